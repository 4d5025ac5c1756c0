package sysx_test

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// BenchmarkGetpid is the baseline: the cheapest real system call.
func BenchmarkGetpid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		unix.Getpid()
	}
}

// BenchmarkSetThreadAffinity re-applies the thread's own mask, so it
// measures the system call without a migration.
func BenchmarkSetThreadAffinity(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mask, err := sysx.ThreadAffinity()
	if err != nil {
		b.Fatalf("ThreadAffinity: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := sysx.SetThreadAffinity(mask); err != nil {
			b.Fatalf("SetThreadAffinity(%s): %v", mask, err)
		}
	}
}

func BenchmarkThreadAffinity(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sysx.ThreadAffinity(); err != nil {
			b.Fatalf("ThreadAffinity: %v", err)
		}
	}
}

func BenchmarkCurrentCPU(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sysx.CurrentCPU(); err != nil {
			b.Fatalf("CurrentCPU: %v", err)
		}
	}
}

func BenchmarkMembarrierPrivateExpedited(b *testing.B) {
	if _, err := sysx.Membarrier(sysx.MembarrierCmdRegisterPrivateExpedited, 0, 0); err != nil {
		b.Skipf("REGISTER_PRIVATE_EXPEDITED: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sysx.Membarrier(sysx.MembarrierCmdPrivateExpedited, 0, 0); err != nil {
			b.Fatalf("PRIVATE_EXPEDITED: %v", err)
		}
	}
}

// BenchmarkFutexWakeNoWaiter is the cost a waker pays when nobody sleeps.
func BenchmarkFutexWakeNoWaiter(b *testing.B) {
	var word uint32
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sysx.FutexWake(&word, 1); err != nil {
			b.Fatalf("FutexWake: %v", err)
		}
	}
}
