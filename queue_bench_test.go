package ctdefer_test

import (
	"testing"

	"github.com/ctdefer/ctdefer"
)

// BenchmarkQueueSend: the cost of sending values to a CPU in user mode,
// beside today's Defer of a bit, in one run.
//
//	defer          Defer of a bit to a CPU in user mode (the deferral CAS)
//	send           Send of one value: reservation CAS, publication, deferral CAS
//	send-batch=8   Send of 8 values at once: still one reservation and one
//	               deferral (ns/value is the cost per value)
//	entry/*        the same, each in a UserEnter/KernelEnter round trip that
//	               runs what was sent (the owner's side included)
//
// The sender-side benchmarks run on the owner's goroutine while its CPU is
// in user mode, and drain the ring (a round trip, timer stopped) every half
// capacity. Target (issue 23): send ≤ 2x defer; a batch is one deferral.
func BenchmarkQueueSend(b *testing.B) {
	const capacity = 1 << 14
	setup := func(b *testing.B) (*ctdefer.Domain, *ctdefer.CPU, ctdefer.Work, *ctdefer.Queue[int]) {
		o := testOptions()
		o.Debug = false
		d := newDomain(b, o)
		w, err := d.Register("nop", func(int) {})
		if err != nil {
			b.Fatal(err)
		}
		q, err := ctdefer.NewQueue(d, "values", capacity, func(int, int) {})
		if err != nil {
			b.Fatal(err)
		}
		c, err := d.Claim(d.CPUs()[0])
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Release() })
		return d, c, w, q
	}
	b.Run("defer", func(b *testing.B) {
		d, c, w, _ := setup(b)
		cpu := c.CPU()
		c.UserEnter()
		defer c.KernelEnter()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = d.Defer(cpu, w)
		}
	})
	sendN := func(b *testing.B, n int) {
		_, c, _, q := setup(b)
		cpu := c.CPU()
		vs := make([]int, n)
		c.UserEnter()
		defer c.KernelEnter()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if (i+1)*n%(capacity/2) < n {
				b.StopTimer()
				c.KernelEnter()
				c.UserEnter()
				b.StartTimer()
			}
			if _, err := q.Send(cpu, vs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
	}
	b.Run("send", func(b *testing.B) { sendN(b, 1) })
	b.Run("send-batch=8", func(b *testing.B) { sendN(b, 8) })
	b.Run("entry/defer", func(b *testing.B) {
		d, c, w, _ := setup(b)
		cpu := c.CPU()
		b.ReportAllocs()
		for b.Loop() {
			c.UserEnter()
			_, _ = d.Defer(cpu, w)
			c.KernelEnter()
		}
	})
	entrySend := func(b *testing.B, n int) {
		_, c, _, q := setup(b)
		cpu := c.CPU()
		vs := make([]int, n)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			c.UserEnter()
			_, _ = q.Send(cpu, vs...)
			c.KernelEnter()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
	}
	b.Run("entry/send", func(b *testing.B) { entrySend(b, 1) })
	b.Run("entry/send-batch=8", func(b *testing.B) { entrySend(b, 8) })
}
