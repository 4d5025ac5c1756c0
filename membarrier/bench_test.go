package membarrier_test

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ctdefer/ctdefer/membarrier"
)

// BenchmarkGetpid is the baseline: the cheapest real system call.
func BenchmarkGetpid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		os.Getpid()
	}
}

// registerOrSkip registers cmd, or skips the benchmark where it is missing.
func registerOrSkip(b *testing.B, cmd membarrier.Command) {
	b.Helper()
	if err := membarrier.Register(cmd); err != nil {
		b.Skipf("Register(%v): %v", cmd, err)
	}
}

// benchBarrier runs barrier in a loop while busy other goroutines spin, so
// that (with busy > 0) the kernel has CPUs running threads of the process to
// interrupt.
func benchBarrier(b *testing.B, cmd membarrier.Command, busy int, barrier func() error) {
	registerOrSkip(b, cmd)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() { // load: spin until the benchmark ends
			}
		}()
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := barrier(); err != nil {
			b.Fatalf("%v: %v", cmd, err)
		}
	}
	stop.Store(true) // store: release the spinners
	wg.Wait()
}

// BenchmarkPrivateExpedited: no other thread of the process runs, so the
// kernel sends no IPI.
func BenchmarkPrivateExpedited(b *testing.B) {
	benchBarrier(b, membarrier.CmdPrivateExpedited, 0, membarrier.PrivateExpedited)
}

// BenchmarkPrivateExpeditedBusy: the other CPUs run spinning goroutines of
// the process, each of which takes an IPI per barrier.
func BenchmarkPrivateExpeditedBusy(b *testing.B) {
	benchBarrier(b, membarrier.CmdPrivateExpedited, runtime.GOMAXPROCS(0)-1, membarrier.PrivateExpedited)
}

func BenchmarkPrivateExpeditedSyncCore(b *testing.B) {
	benchBarrier(b, membarrier.CmdPrivateExpeditedSyncCore, 0, membarrier.PrivateExpeditedSyncCore)
}

func BenchmarkPrivateExpeditedRseqOnCPU(b *testing.B) {
	benchBarrier(b, membarrier.CmdPrivateExpeditedRseq, 0, func() error { return membarrier.PrivateExpeditedRseqOnCPU(0) })
}
