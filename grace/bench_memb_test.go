package grace_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ctdefer/ctdefer/grace"
)

// The memb flavour's read side beside the usual Go read locks, and its
// grace period, named as liburcu-memb's side in bench/liburcu (-tags
// liburcu -bench LiburcuMemb) for a side-by-side run:
//
//	HandleLockUnlock/readers=N    Lock+Unlock by N goroutines, each its own Handle (rcu_read_lock/unlock)
//	RWMutexRLockRUnlock/readers=N sync.RWMutex's RLock+RUnlock, one lock shared by N goroutines
//	RBMutexRLockRUnlock/readers=N xsync's reader-biased RWMutex, the same way
//	MembSynchronize/readers=64    Synchronize with 64 registered readers outside their sections (synchronize_rcu)
//
// ns/op is the wall time of b.N operations shared among the N goroutines:
// with N above GOMAXPROCS it is the machine's throughput, not one
// goroutine's latency.

func BenchmarkHandleLockUnlock(b *testing.B) {
	g := newBenchMemb(b)
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) { benchHandle(b, g, readers) })
	}
}

// BenchmarkMembReadSide is the three read sides beside each other, for each
// number of readers, in one run: the ratios of one run hold on a noisy
// machine where absolute figures do not (the targets: memb's Lock+Unlock
// at least 10x faster than RWMutex's RLock+RUnlock with 2 readers, and
// faster than RBMutex's; flat from 1 to 64 readers).
func BenchmarkMembReadSide(b *testing.B) {
	g := newBenchMemb(b)
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d/memb", readers), func(b *testing.B) { benchHandle(b, g, readers) })
		b.Run(fmt.Sprintf("readers=%d/rwmutex", readers), func(b *testing.B) { benchRWMutex(b, readers) })
		b.Run(fmt.Sprintf("readers=%d/rbmutex", readers), func(b *testing.B) { benchRBMutex(b, readers) })
	}
}

// BenchmarkHandleLockUnlockFenced is the fallback read side, where
// membarrier is missing: an atomic store at the outermost Lock and Unlock.
func BenchmarkHandleLockUnlockFenced(b *testing.B) {
	g := grace.NewMembFenced(grace.Options{})
	h, err := g.Register()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Lock()
		//lint:ignore SA2001 an empty section is the point: the read side's own cost
		h.Unlock()
	}
	h.Unregister()
}

func BenchmarkRWMutexRLockRUnlock(b *testing.B) {
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) { benchRWMutex(b, readers) })
	}
}

func BenchmarkRBMutexRLockRUnlock(b *testing.B) {
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) { benchRBMutex(b, readers) })
	}
}

// BenchmarkMembSynchronize is a grace period with 64 registered readers
// outside their sections: the floor, two membarrier calls and a scan of 64
// words (liburcu-memb's synchronize_rcu with 64 registered threads is its
// peer).
func BenchmarkMembSynchronize(b *testing.B) {
	for _, mode := range membModes {
		b.Run(mode.name+"/readers=64", func(b *testing.B) {
			g := mode.make(grace.Options{})
			for range 64 {
				h, err := g.Register()
				if err != nil {
					b.Fatal(err)
				}
				defer h.Unregister()
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Synchronize(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
