package membarrier

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkGetpid is the baseline: the cheapest real system call.
func BenchmarkGetpid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		os.Getpid()
	}
}

// benchBarrier runs PrivateExpedited in a loop while busy other goroutines
// spin, so that (with busy > 0) the kernel has CPUs running threads of the
// process to interrupt.
func benchBarrier(b *testing.B, busy int) {
	if err := RegisterPrivateExpedited(); err != nil {
		b.Skipf("RegisterPrivateExpedited: %v", err)
	}
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
		if err := PrivateExpedited(); err != nil {
			b.Fatalf("PrivateExpedited: %v", err)
		}
	}
	stop.Store(true) // store: release the spinners
	wg.Wait()
}

// BenchmarkPrivateExpedited: no other thread of the process runs, so the
// kernel sends no IPI.
func BenchmarkPrivateExpedited(b *testing.B) { benchBarrier(b, 0) }

// BenchmarkPrivateExpeditedBusy: the other CPUs run spinning goroutines of
// the process, each of which takes an IPI per barrier.
func BenchmarkPrivateExpeditedBusy(b *testing.B) { benchBarrier(b, runtime.GOMAXPROCS(0)-1) }
