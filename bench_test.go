package ctdefer_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// BenchmarkCPUKernelEnterNoWork: a UserEnter/KernelEnter round trip with
// nothing pending (two atomic adds and the mailbox poll), beside
// BenchmarkCPUKernelEnterWithWork, which also delivers one work to itself
// (one CAS) and runs it at the entry.
func BenchmarkCPUKernelEnterNoWork(b *testing.B) {
	_, c, _ := benchOwner(b, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.UserEnter()
		c.KernelEnter()
	}
}

func BenchmarkCPUKernelEnterWithWork(b *testing.B) { benchEntry(b, 1) }

// BenchmarkCPUEntryTracked vs BenchmarkCPUEntryFlushOnEntry (the alternative
// Dave Hansen proposed in the LKML thread "context_tracking,x86: Defer some
// IPIs until a user->kernel transition"): per op one round trip in which one
// work was delivered, with 1, 4 or 16 works registered. Tracked bits run only
// the delivered work; FlushOnEntry runs every registered work at every entry.
// The handlers do nothing, so this is the bookkeeping floor; real flushes
// widen the gap by their own cost times the number of works.
func BenchmarkCPUEntryTracked(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprint("works=", n), func(b *testing.B) { benchEntry(b, n) })
	}
}

func BenchmarkCPUEntryFlushOnEntry(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprint("works=", n), func(b *testing.B) { benchEntry(b, n, ctdefer.FlushOnEntry()) })
	}
}

// BenchmarkCPUPollNothing: the hot loop's Poll when no IPI is pending.
func BenchmarkCPUPollNothing(b *testing.B) {
	_, c, _ := benchOwner(b, 1)
	c.UserEnter()
	defer c.KernelEnter()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Poll()
	}
}

// BenchmarkKernelEnter: one user/kernel round trip per op, beside its floor
// in one run.
//
//	nowork   UserEnter, KernelEnter, nothing pending
//	onework  the same, with one work delivered to itself by Defer (a CAS on
//	         its word) and run by the entry
//	floor    nowork plus what onework cannot avoid: one CAS on a word of
//	         its own and one indirect call of a no-op
//	word     the floor under nowork: the bare ctseq.Word round trip
//
// onework over floor is the bookkeeping of an entry with work (target 1.5x).
// nowork over word is the handle's: per method one plain load of the
// handle's checks byte (the Options.Debug and used-after-Release checks
// together), the mailbox poll, and UserEnter's load of doneSeq.
func BenchmarkKernelEnter(b *testing.B) {
	b.Run("nowork", func(b *testing.B) {
		_, c, _ := benchOwner(b, 1)
		b.ReportAllocs()
		for b.Loop() {
			c.UserEnter()
			c.KernelEnter()
		}
	})
	b.Run("onework", func(b *testing.B) { benchEntry(b, 1) })
	b.Run("floor", func(b *testing.B) {
		_, c, _ := benchOwner(b, 1)
		var word struct {
			_ [64]byte
			v atomic.Uint64
			_ [64]byte
		}
		nop := func() {}
		call := &nop // through a pointer: an indirect call the compiler cannot inline
		b.ReportAllocs()
		for b.Loop() {
			c.UserEnter()
			v := word.v.Load()
			word.v.CompareAndSwap(v, v|1<<20)
			c.KernelEnter()
			(*call)()
		}
	})
	b.Run("word", func(b *testing.B) {
		var word struct {
			_ [64]byte
			w ctseq.Word
			_ [64]byte
		}
		b.ReportAllocs()
		for b.Loop() {
			word.w.UserEnter()
			word.w.KernelEnter()
		}
	})
}
