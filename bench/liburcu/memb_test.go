//go:build liburcu && linux

package liburcu

import (
	"runtime"
	"testing"
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
	b.Run("readers=64", func(b *testing.B) {
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
	})
}
