//go:build liburcu && linux

package liburcu

import (
	"context"
	"runtime"
	"testing"

	"github.com/ctdefer/ctdefer/grace"
)

// BenchmarkLiburcuMembReadLockUnlock is liburcu-memb's rcu_read_lock and
// rcu_read_unlock, inlined into a C loop (one cgo call per million pairs
// at most): ns/op is per pair, the peer of grace's
// BenchmarkHandleLockUnlock/readers=1.
func BenchmarkLiburcuMembReadLockUnlock(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	membRegister()
	defer membUnregister()
	b.Logf("membarrier %v", membHasMembarrier())
	b.ReportAllocs()
	b.ResetTimer()
	for n := b.N; n > 0; n -= 1 << 20 {
		membReadLoop(min(n, 1<<20))
	}
}

// BenchmarkLiburcuMembSynchronize is synchronize_rcu with 64 registered
// reader threads outside their sections, the peer of grace's
// BenchmarkMembSynchronize/membarrier/readers=64.
func BenchmarkLiburcuMembSynchronize(b *testing.B) {
	b.Run("readers=64", benchLiburcuMembSynchronize64)
}

// benchLiburcuMembSynchronize64 times synchronize_rcu with 64 idle
// registered reader threads.
func benchLiburcuMembSynchronize64(b *testing.B) {
	idle, err := startMembIdle(64)
	if err != nil {
		b.Fatal(err)
	}
	defer idle.stop()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		membSynchronize()
	}
}

// BenchmarkMembPeers is liburcu-memb and grace's memb flavour side by side
// in one run, so that one run gives the ratios (issue 22's targets: the
// read side at most 1.5x liburcu-memb's rcu_read_lock+rcu_read_unlock, and
// Synchronize with 64 registered readers outside their sections at or
// below its synchronize_rcu).
func BenchmarkMembPeers(b *testing.B) {
	b.Run("read/liburcu-memb", BenchmarkLiburcuMembReadLockUnlock)
	b.Run("read/grace-memb", func(b *testing.B) {
		g, err := grace.NewMemb(grace.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h, err := g.Register()
		if err != nil {
			b.Fatal(err)
		}
		defer h.Unregister()
		b.Logf("membarrier %v", g.Stats().Membarrier)
		b.ReportAllocs()
		for b.Loop() {
			h.Lock()
			//lint:ignore SA2001 an empty section is the point: the read side's own cost
			h.Unlock()
		}
	})
	b.Run("synchronize/readers=64/liburcu-memb", benchLiburcuMembSynchronize64)
	b.Run("synchronize/readers=64/grace-memb", func(b *testing.B) {
		g, err := grace.NewMemb(grace.Options{})
		if err != nil {
			b.Fatal(err)
		}
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
