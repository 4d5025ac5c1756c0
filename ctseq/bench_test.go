package ctseq_test

import (
	"testing"

	"go.uber.org/atomic"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Each Word benchmark sits beside a raw go.uber.org/atomic baseline doing the
// same atomic instructions, so that one run gives the ratio. Run with
//
//	go test -run '^$' -bench . -count 5 ./ctseq/ | benchstat -
//
// Raw words use the ctseq layout by hand: state in bits 0-2, work in 3-18,
// sequence at the top (45 bits in normal builds). The stored state fields of
// Kernel and User are 0 and 2 (encodings 3 and 5, minus the bias 3:
// docs/design/word.md, Layout), so the raw round trip adds the same constants as the Word's,
// rawSeqInc+2 and rawSeqInc-2 (the raw helpers are in helpers_test.go).

// BenchmarkWordSetWorkIfUserUncontended measures SetWorkIfUser doing a real
// CAS every time: op i sets bit i%16, which is never pending, because every
// 16 ops the owner makes a KernelEnter (add, plus the sub that clears the 16
// claimed bits) and a UserEnter (add). Per op: one load, one CAS, and 3/16
// of an add. A SetWorkIfUser on a bit already pending costs one load only
// (no write) and is not measured here.
func BenchmarkWordSetWorkIfUserUncontended(b *testing.B) {
	b.ReportAllocs()
	var w ctseq.Word
	w.UserEnter()
	for i := 0; i < b.N; i++ {
		_, sinkBool = w.SetWorkIfUser(ctseq.Work(1) << (i & 15))
		if i&15 == 15 {
			sinkWork = w.KernelEnter()
			w.UserEnter()
		}
	}
}

// BenchmarkRawCASUncontended is the baseline: the same instructions on a raw
// atomic: per op one load and one CAS setting a fresh bit, and every 16 ops
// an add, a sub and an add.
func BenchmarkRawCASUncontended(b *testing.B) {
	b.ReportAllocs()
	var v atomic.Uint64
	v.Add(rawSeqInc + 2)
	for i := 0; i < b.N; i++ {
		old := v.Load()
		sinkBool = v.CompareAndSwap(old, old|uint64(1)<<(i&15+rawWorkShift))
		if i&15 == 15 {
			n := v.Add(rawSeqInc - 2)
			v.Sub(n & (0xffff << rawWorkShift))
			v.Add(rawSeqInc + 2)
		}
	}
}

// BenchmarkWordSetWorkIfUserContended: SetWorkIfUser of bit i%16 while an
// owner on another thread makes User/Kernel round trips as fast as it can.
// About half the calls are refused (owner in Kernel: one load); the others
// load and CAS, retrying when the owner moved in between. The owner's adds
// keep the line bouncing between the two CPUs.
func BenchmarkWordSetWorkIfUserContended(b *testing.B) {
	b.ReportAllocs()
	var w ctseq.Word
	stop := other(b, func() {
		w.UserEnter()
		sinkOther = w.KernelEnter()
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, sinkBool = w.SetWorkIfUser(ctseq.Work(1) << (i & 15))
	}
	b.StopTimer()
	stop()
}

// BenchmarkRawCASContended is the baseline: load and CAS (retried until it
// succeeds) setting bit i%16 while another thread adds to the same word in a
// loop. It never refuses, so it does at least the work SetWorkIfUser does.
func BenchmarkRawCASContended(b *testing.B) {
	b.ReportAllocs()
	var v atomic.Uint64
	stop := other(b, func() { v.Add(rawSeqInc) })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bit := uint64(1) << (i&15 + rawWorkShift)
		for {
			old := v.Load()
			if v.CompareAndSwap(old, old|bit) {
				break
			}
		}
	}
	b.StopTimer()
	stop()
}

// BenchmarkWordKernelEnterNoWork: per op one User/Kernel round trip,
// UserEnter then KernelEnter with nothing pending: two atomic adds (LOCK
// XADD on amd64). A Word cannot enter the kernel twice without leaving it,
// and stopping the timer around UserEnter would cost far more than the op.
func BenchmarkWordKernelEnterNoWork(b *testing.B) {
	b.ReportAllocs()
	var w ctseq.Word
	for i := 0; i < b.N; i++ {
		w.UserEnter()
		sinkWork = w.KernelEnter()
	}
}

// BenchmarkRawAdd is the baseline for the round trip: two atomic adds per op.
func BenchmarkRawAdd(b *testing.B) {
	b.ReportAllocs()
	var v atomic.Uint64
	for i := 0; i < b.N; i++ {
		v.Add(rawSeqInc + 2)
		sinkU64 = v.Add(rawSeqInc - 2)
	}
}

// BenchmarkWordKernelEnterWithWork: per op a round trip with one bit pending:
// UserEnter (add), SetWorkIfUser (load, CAS), KernelEnter (add, plus the sub
// that clears the claimed bit). Compare with KernelEnterNoWork plus
// SetWorkIfUserUncontended.
func BenchmarkWordKernelEnterWithWork(b *testing.B) {
	b.ReportAllocs()
	var w ctseq.Word
	for i := 0; i < b.N; i++ {
		w.UserEnter()
		w.SetWorkIfUser(ctseq.Work(1) << (i & 15))
		sinkWork = w.KernelEnter()
	}
}

// BenchmarkWordUserEnter times UserEnter alone: words are put back in Kernel
// (by KernelEnter) outside the timer, a batch at a time, so the timer's own
// cost is spread over the batch. Per op: one atomic add, on a word in L1.
func BenchmarkWordUserEnter(b *testing.B) {
	b.ReportAllocs()
	const batch = 2048
	ws := new([batch]ctseq.Word)
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		b.StopTimer()
		for j := range n {
			if ws[j].Snapshot().State() == ctseq.User {
				ws[j].KernelEnter()
			}
		}
		b.StartTimer()
		for j := range n {
			ws[j].UserEnter()
		}
	}
}

// BenchmarkRawAddBatched is UserEnter's baseline: one atomic add per op over
// the same batch of words.
func BenchmarkRawAddBatched(b *testing.B) {
	b.ReportAllocs()
	const batch = 2048
	vs := new([batch]atomic.Uint64)
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		b.StopTimer()
		for j := range n {
			vs[j].Add(rawSeqInc - 2)
		}
		b.StartTimer()
		for j := range n {
			vs[j].Add(rawSeqInc + 2)
		}
	}
}

// BenchmarkWordQuiescentSince: the full path, a Kernel snapshot of a word
// that has not moved: one load and a compare.
func BenchmarkWordQuiescentSince(b *testing.B) {
	b.ReportAllocs()
	var w ctseq.Word
	s := w.Snapshot()
	for i := 0; i < b.N; i++ {
		sinkBool = w.QuiescentSince(s)
	}
}

// BenchmarkRawLoad is the baseline: the snapshot's state test, then one
// load, shift and compare.
func BenchmarkRawLoad(b *testing.B) {
	b.ReportAllocs()
	var v atomic.Uint64
	s := v.Load()
	for i := 0; i < b.N; i++ {
		sinkBool = s&7 != 0 || v.Load()>>(64-ctseq.SeqBits) != s>>(64-ctseq.SeqBits)
	}
}
