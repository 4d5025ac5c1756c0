package ctdefer_test

import (
	"testing"

	"github.com/ctdefer/ctdefer"
)

// The sender's cost of a reschedule request beside a deferral, the other
// undisturbing delivery, in one run. The owner sits in user mode on the
// first test CPU; "Polled" variants have it poll and clear in a loop, so
// every request also moves the line to the owner and back.

// BenchmarkDomainReschedLazy: one atomic Or.
func BenchmarkDomainReschedLazy(b *testing.B) { benchResched(b, ctdefer.ReschedLazy) }

// BenchmarkDomainReschedFull: one atomic Or (the wake-up check is skipped
// while the request is pending).
func BenchmarkDomainReschedFull(b *testing.B) { benchResched(b, ctdefer.ReschedFull) }

// BenchmarkDomainDeferUser is the baseline: a deferral to a CPU in user
// mode, one load and one CAS of the context-tracking word. Beside it, in
// the same run, call-cas is the fast path as it was before the CAS inlined
// into Defer (ctseq's SetWorkIfUser called the CAS loop out of line): the
// sender's cost before and after.
func BenchmarkDomainDeferUser(b *testing.B) {
	for _, tc := range []struct {
		name string
		send func(d *ctdefer.Domain, cpu int, w ctdefer.Work) (ctdefer.Delivery, error)
	}{
		{"inline-cas", (*ctdefer.Domain).Defer},
		{"call-cas", (*ctdefer.Domain).DeferCallCAS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d, cpu, w, _ := benchReschedTarget(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.send(d, cpu, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDomainReschedFullPolled: the owner honours each request at its
// preemption point (NeedResched, ClearResched), in user mode.
func BenchmarkDomainReschedFullPolled(b *testing.B) {
	d, cpu, _, o := benchReschedTarget(b)
	pollingOwner(b, o, func(c *ctdefer.CPU) {
		if c.NeedResched() {
			c.ClearResched()
		}
	})
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Resched(cpu, ctdefer.ReschedFull); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDomainDeferUserPolled is its baseline: the owner makes kernel
// round trips (KernelEnter runs the deferred work, UserEnter returns).
func BenchmarkDomainDeferUserPolled(b *testing.B) {
	d, cpu, w, o := benchReschedTarget(b)
	pollingOwner(b, o, func(c *ctdefer.CPU) {
		c.KernelEnter()
		c.UserEnter()
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Defer(cpu, w); err != nil {
			b.Fatal(err)
		}
	}
}
