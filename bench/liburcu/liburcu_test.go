//go:build liburcu && linux

package liburcu

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// cSamples is how many synchronize_rcu calls the C-side loop times, after
// the Go-timed ones, for c-ns/op (the median) and c-p99-ns/op.
const cSamples = 2001

// BenchmarkLiburcuQuiescentState is rcu_quiescent_state with no grace
// period waiting, called in a C loop (one cgo call per million reports at
// most): ns/op is per report.
func BenchmarkLiburcuQuiescentState(b *testing.B) {
	asReader(b)
	b.ReportAllocs()
	b.ResetTimer()
	for n := b.N; n > 0; n -= 1 << 20 {
		quiescentLoop(min(n, 1<<20))
	}
}

// BenchmarkLiburcuQuiescentStateCgo is one cgo call per
// rcu_quiescent_state, what a Go program wrapping liburcu pays per report.
func BenchmarkLiburcuQuiescentStateCgo(b *testing.B) {
	asReader(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		quiescentState()
	}
}

// BenchmarkLiburcuSynchronize is synchronize_rcu from a writer pinned to
// the first allowed CPU, with one registered reader thread pinned to the
// last: busy-reader reports in a tight loop, offline-reader is offline. As
// BenchmarkQSBRSynchronize in package grace does, each call is timed from
// Go (p50-ns, p99-ns; ns/op is the mean, time.Now included); c-ns/op and
// c-p99-ns/op are the median and 99th percentile of calls timed in C,
// without the cgo call.
func BenchmarkLiburcuSynchronize(b *testing.B) {
	for _, bc := range []struct {
		name    string
		offline bool
	}{{"busy-reader", false}, {"offline-reader", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cpus, _ := host.AllowedCPUs()
			readerCPU := -1
			switch {
			case len(cpus) >= 2:
				readerCPU = cpus[len(cpus)-1]
			case !bc.offline:
				b.Skipf("needs two allowed CPUs for a busy reader, have %v", cpus)
			}
			pinWriter(b, cpus[0])
			r, err := startReader(readerCPU, bc.offline)
			if err != nil {
				b.Fatal(err)
			}
			defer r.stop()
			lat := make([]time.Duration, 0, 1<<20)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				synchronize()
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			ns := make([]int64, cSamples)
			synchronizeTimed(ns)
			slices.Sort(ns)
			b.ReportMetric(float64(ns[len(ns)/2]), "c-ns/op")
			b.ReportMetric(float64(ns[len(ns)*99/100]), "c-p99-ns/op")
		})
	}
}

// asReader locks the benchmark goroutine to its thread, pins it to the
// first allowed CPU and registers the thread as a reader, online, until the
// benchmark ends. Nothing else synchronizes meanwhile: no grace period
// waits, so each report takes the fast path.
func asReader(b *testing.B) {
	b.Helper()
	allowed, _ := host.AllowedCPUs()
	pinWriter(b, allowed[0])
	registerThread()
	b.Cleanup(unregisterThread)
}

// pinWriter locks the benchmark goroutine to its thread and pins the thread
// to cpu until the benchmark ends, then restores its affinity.
func pinWriter(b *testing.B, cpu int) {
	b.Helper()
	runtime.LockOSThread()
	prev, err := sysx.ThreadAffinity()
	if err == nil {
		err = sysx.SetThreadAffinity(sysx.CPUSetOf(cpu))
	}
	if err != nil {
		runtime.UnlockOSThread()
		b.Fatalf("pinning the benchmark goroutine to CPU %d: %v", cpu, err)
	}
	b.Cleanup(func() {
		if err := sysx.SetThreadAffinity(prev); err != nil {
			b.Errorf("restoring the affinity: %v", err)
		}
		runtime.UnlockOSThread()
	})
}
