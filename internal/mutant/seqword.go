package mutant

import (
	"fmt"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// seqWord is a minimal copy of ctseq.Word: the same layout (the sequence as
// wide as ctseq.SeqMask, so the narrow-sequence build narrows it too), the same
// atomic operations in the same order, without the misuse checks and the
// nested Enter/Exit. Its state field holds the State values themselves:
// ctseq's state encoding and bias (misuse loses no delivery,
// docs/design/word.md) exist for misused transitions, which the copy does
// not check, and change nothing else. The one-fault mutants embed it and
// replace one method;
// Reference embeds it unchanged.
//
// ctseq.Word cannot serve as the base: its word is unexported, and a mutant
// must change what one atomic operation writes.
type seqWord struct {
	v atomicx.Uint64 // [ seq ][ reserved ][ work : WorkBits ][ state : 3 ]
}

// The layout. ctseq keeps its field widths unexported; the state field is
// ctseq's width (3 bits; the plain State values need 2), and the sequence
// is the top bits, as many as ctseq.SeqMask has, so that it wraps where
// ctseq's does: swSeqInc is 1 << (64 - that width), computed as a constant
// without the width itself.
const (
	swStateBits = 3
	swWorkShift = swStateBits
	swSeqInc    = uint64(1<<63) / (ctseq.SeqMask + 1) * 2
	swStateMask = uint64(1)<<swStateBits - 1
	swWorkMask  = (uint64(1)<<ctseq.WorkBits - 1) << swWorkShift
)

// Compile-time check: the sequence starts above the work field.
var _ [min(swSeqInc>>(swWorkShift+ctseq.WorkBits), 1) - 1]struct{}

// swDelta moves a word from state from to state to and advances the
// sequence by one, as ctseq's delta.
func swDelta(from, to ctseq.State) uint64 { return swSeqInc + uint64(to) - uint64(from) }

func swState(v uint64) ctseq.State { return ctseq.State(v & swStateMask) }
func swWork(v uint64) ctseq.Work   { return ctseq.Work((v & swWorkMask) >> swWorkShift) }

// UserEnter moves the owner from Kernel to User. Owner only.
func (w *seqWord) UserEnter() {
	w.v.Add(swDelta(ctseq.Kernel, ctseq.User)) // RMW: publish User; pairs with SetWorkIfUser's load and CAS
}

// KernelEnter moves the owner from User to Kernel and returns the work
// pending at that instant. Owner only.
func (w *seqWord) KernelEnter() ctseq.Work {
	return w.claim(w.v.Add(swDelta(ctseq.User, ctseq.Kernel))) // RMW: leave User and read the work; pairs with SetWorkIfUser's CAS
}

// IdleEnter moves the owner from Kernel to Idle. Owner only.
func (w *seqWord) IdleEnter() {
	w.v.Add(swDelta(ctseq.Kernel, ctseq.Idle)) // RMW: publish Idle; pairs with Snapshot and QuiescentSince
}

// IdleExit moves the owner from Idle to Kernel and returns the work pending
// at that instant. Owner only.
func (w *seqWord) IdleExit() ctseq.Work {
	return w.claim(w.v.Add(swDelta(ctseq.Idle, ctseq.Kernel))) // RMW: leave Idle; pairs with Snapshot and QuiescentSince
}

func (w *seqWord) claim(n uint64) ctseq.Work {
	work := swWork(n)
	if work != 0 {
		w.v.Sub(uint64(work) << swWorkShift) // RMW: clear the bits just claimed; no sender writes a Kernel word
	}
	return work
}

// SetWorkIfUser sets work if the owner is in User and reports whether it
// did, as ctseq.Word.SetWorkIfUser. Any goroutine.
func (w *seqWord) SetWorkIfUser(work ctseq.Work) bool {
	old := w.v.Load() // load: first guess for the CAS; pairs with the owner's transitions
	for {
		if swState(old) != ctseq.User {
			return false
		}
		n := old | uint64(work)<<swWorkShift
		if n == old {
			return true
		}
		if w.v.CompareAndSwap(old, n) { // RMW: set the bits only in the User word observed; pairs with KernelEnter's add
			return true
		}
		old = w.v.Load() // load: retry on the current value; pairs with the owner's transitions and other senders' CASes
	}
}

// Snapshot returns the word's current value. Any goroutine.
func (w *seqWord) Snapshot() Snapshot {
	return Snapshot{w.v.Load()} // load: pairs with the owner's transitions
}

// QuiescentSince reports whether the owner was in User or Idle at s or has
// made a transition since, as ctseq.Word.QuiescentSince. Any goroutine.
func (w *seqWord) QuiescentSince(s Snapshot) bool {
	if s.State() != ctseq.Kernel {
		return true
	}
	return w.v.Load()/swSeqInc != s.Seq() // load: pairs with the owner's transitions
}

// Snapshot is a copy of a mutant word's value, read as a ctseq.Snapshot.
type Snapshot struct{ v uint64 }

// Seq returns the sequence counter, in [0, ctseq.SeqMask].
func (s Snapshot) Seq() uint64 { return s.v / swSeqInc }

// FormatWord formats a raw mutant word (a seqWord's value: ctseq's field
// widths, the plain State values in the state field), for the explorer's
// traces.
func FormatWord(v uint64) string {
	return fmt.Sprintf("seq=%d,%v,work=%#x", v/swSeqInc, swState(v), uint64(swWork(v)))
}

// State returns the owner's state at the snapshot.
func (s Snapshot) State() ctseq.State { return swState(s.v) }

// Work returns the work bits present at the snapshot.
func (s Snapshot) Work() ctseq.Work { return swWork(s.v) }

// Reference is the unmutated copy of ctseq.Word on which IgnoreState and
// ForgetSeq are built: the control. A checker that fails Reference is wrong,
// and one that passes it but fails a mutant caught that mutant's fault, not
// a difference between the copy and ctseq.
//
// The zero value is in Kernel with sequence 0 and no work.
type Reference struct {
	seqWord
}
