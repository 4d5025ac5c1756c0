package bench_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
)

// BenchmarkSaturation: a sender delivers back-to-back to a worker whose hot
// loop (user mode, a Poll per iteration, a kernel entry every 100µs) counts
// its iterations. Each sub-benchmark first measures the loop alone for
// 100ms, then with the sender for b.N deliveries, and reports, beside the
// sender's ns/op:
//
//	loop-ratio  the loop's iterations per second with the sender, over alone (target >= 0.9)
//	deferred-%  the deliveries that went by the word, not by IPI (target >= 99.9)
//
// defer is the tracked policy; always-ipi the same worker claimed with
// AlwaysIPI, every delivery an interrupt at the loop's next Poll.
func BenchmarkSaturation(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []ctdefer.ClaimOption
	}{{"defer", nil}, {"always-ipi", []ctdefer.ClaimOption{ctdefer.AlwaysIPI()}}} {
		b.Run(bc.name, func(b *testing.B) {
			// The loop's count on a line of its own: the sender reads
			// the rig's fields on every delivery, and a count beside them
			// would slow the loop by false sharing, not by the deliveries.
			iters := new(struct {
				_ [64]byte
				n atomic.Uint64
				_ [64]byte
			})
			r := newRig(b, func(r *rig, c *ctdefer.CPU) {
				n := uint64(0)
				for !r.stop.Load() && !c.Closing() {
					c.UserEnter()
					deadline := time.Now().Add(100 * time.Microsecond)
					for time.Now().Before(deadline) {
						for range 16 {
							n++
							c.Poll()
						}
						iters.n.Store(n)
					}
					c.KernelEnter()
				}
			}, bc.opts...)
			alone := func() float64 {
				i0, t0 := iters.n.Load(), time.Now()
				time.Sleep(100 * time.Millisecond)
				return float64(iters.n.Load()-i0) / time.Since(t0).Seconds()
			}()
			b.ReportAllocs()
			b.ResetTimer()
			i0, t0 := iters.n.Load(), time.Now()
			ipis := deferN(b, r)
			with := float64(iters.n.Load()-i0) / time.Since(t0).Seconds()
			b.StopTimer()
			b.ReportMetric(with/alone, "loop-ratio")
			b.ReportMetric(100*float64(uint64(b.N)-ipis)/float64(b.N), "deferred-%")
		})
	}
}
