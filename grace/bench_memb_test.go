package grace_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/puzpuzpuz/xsync/v4"

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
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("membarrier %v", g.Stats().Membarrier)
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			b.ReportAllocs()
			hs := make([]*grace.Handle, readers)
			parallel(b, readers, func(i int) func(int) {
				h, err := g.Register()
				if err != nil {
					b.Fatal(err)
				}
				hs[i] = h
				return func(n int) {
					for range n {
						h.Lock()
						//lint:ignore SA2001 an empty section is the point: the read side's own cost
						h.Unlock()
					}
				}
			})
			b.StopTimer()
			for _, h := range hs {
				h.Unregister()
			}
		})
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
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			b.ReportAllocs()
			var mu sync.RWMutex
			parallel(b, readers, func(int) func(int) {
				return func(n int) {
					for range n {
						mu.RLock()
						//lint:ignore SA2001 an empty section is the point: the read side's own cost
						mu.RUnlock()
					}
				}
			})
		})
	}
}

func BenchmarkRBMutexRLockRUnlock(b *testing.B) {
	for _, readers := range readerCounts {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			b.ReportAllocs()
			mu := xsync.NewRBMutex()
			parallel(b, readers, func(int) func(int) {
				return func(n int) {
					for range n {
						t := mu.RLock()
						mu.RUnlock(t)
					}
				}
			})
		})
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
