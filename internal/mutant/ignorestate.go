package mutant

import "github.com/ctdefer/ctdefer/ctseq"

// IgnoreState is ctseq.Word with a SetWorkIfUser that forgets to check the
// owner's state: it ORs the bits into the word whatever the state and always
// reports success, so the sender never sends an IPI.
//
// What goes wrong: work set while the owner is in Kernel (after the
// KernelEnter add that claims the bits) is not returned by that entry; it
// waits in the word for the owner's next entry (late: the work was needed
// now) or is never run if none comes (lost). The owner's claim subtracts only
// the bits it saw, so the late bits survive it. Clean refusal (refuse when not
// in User, and leave no trace) is what is broken; delivered by the next
// entry and exactly-once delivery are what users see.
//
// The zero value is in Kernel with sequence 0 and no work.
type IgnoreState struct {
	seqWord
}

// SetWorkIfUser sets work in the word whatever the owner's state and
// reports true: the bug. Any goroutine.
func (w *IgnoreState) SetWorkIfUser(work ctseq.Work) bool {
	for {
		old := w.v.Load() // load: first guess for the CAS
		n := old | uint64(work)<<swWorkShift
		if n == old || w.v.CompareAndSwap(old, n) { // RMW: the OR, with no state test: the bug
			return true
		}
	}
}
