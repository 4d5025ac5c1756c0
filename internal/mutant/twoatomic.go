package mutant

import (
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// TwoAtomic is Peter Zijlstra's 2021 design of context-tracking work
// deferral, which the LKML thread "context-tracking: Introduce work deferral
// infrastructure" (July 2023) rejects: the state word holds the sequence, the
// state and one FLAG bit saying "work pending", and the work bits live in a
// separate atomic.
//
// The race that thread describes, with the owner in User:
//
//  1. Sender: state.Load() sees User.
//  2. Sender: work |= w (the bits are now in m.work).
//  3. Owner: KernelEnter: state.Add; FLAG is not set, so it swaps nothing.
//  4. Sender: state.CompareAndSwap(seq, seq|FLAG) fails (the sequence moved):
//     SetWorkIfUser returns false and the caller sends an IPI, which runs
//     the work.
//  5. The bits of step 2 stay in m.work: the sender cannot clear them, since
//     another sender may have set the same bit concurrently and be counting
//     on it.
//  6. The next successful deferral, of any bit, sets FLAG; the owner's next
//     KernelEnter swaps m.work out, stale bits included, and runs the work of
//     step 2 a second time: double execution.
//
// The same double execution happens without step 6 if another sender set
// FLAG earlier in the same User stretch: then step 3 swaps the bits of step 2
// out and runs them deferred, and step 4 still sends the IPI.
//
// ctseq.Word avoids this by keeping the work bits in the state word, so that
// "observe User" and "set the bits" are one compare-and-swap.
//
// The zero value is in Kernel with sequence 0 and no work. Owner methods do
// not check for misuse.
type TwoAtomic struct {
	// state is [ sequence : 61 ][ FLAG : 1 ][ state : 2 ], with the state
	// values of ctseq (Kernel 0, Idle 1, User 2). First in the struct for
	// 64-bit alignment on 32-bit platforms.
	state atomicx.Uint64
	// work holds the pending work bits (a ctseq.Work), set by senders with
	// an OR before they try to set FLAG, and swapped to 0 by the owner.
	work atomicx.Uint64
}

const (
	taStateMask = 3
	taFlag      = 1 << 2
	taSeqInc    = 1 << 3
	taUser      = uint64(ctseq.User)
	taKernel    = uint64(ctseq.Kernel)
)

// UserEnter moves the owner from Kernel to User. Owner only.
func (m *TwoAtomic) UserEnter() {
	m.state.Add(taSeqInc + taUser - taKernel) // RMW: publish User; pairs with the load and CAS in SetWorkIfUser
}

// KernelEnter moves the owner from User to Kernel and returns the pending
// work if FLAG was set. Owner only.
func (m *TwoAtomic) KernelEnter() ctseq.Work {
	n := m.state.Add(taSeqInc - taUser + taKernel) // RMW: leave User; the two-atomic window: a sender between its OR and its CAS now fails its CAS
	if n&taFlag == 0 {
		return 0
	}
	m.state.Sub(taFlag)               // RMW: clear FLAG (no sender sets it in Kernel); pairs with the CAS in SetWorkIfUser
	return ctseq.Work(m.work.Swap(0)) // RMW: take every bit in m.work, including ones whose sender's CAS failed; pairs with the OR in SetWorkIfUser
}

// SetWorkIfUser ORs w into the work atomic if the owner is in User, then
// tries to set FLAG in the state word it observed. It returns false, leaving
// the bits behind in the work atomic, if the owner moved in between.
// Any goroutine.
func (m *TwoAtomic) SetWorkIfUser(w ctseq.Work) bool {
	seq := m.state.Load() // load: decide on User; pairs with the owner's transition adds
	if seq&taStateMask != taUser {
		return false
	}
	for {
		old := m.work.Load()                           // load: first guess for the OR; pairs with the owner's Swap
		if m.work.CompareAndSwap(old, old|uint64(w)) { // RMW: the OR, in a second atomic: the bug; pairs with the owner's Swap
			break
		}
	}
	return m.state.CompareAndSwap(seq, seq|taFlag) // RMW: set FLAG only if still the User word of the load; fails if the owner entered the kernel after the OR; pairs with KernelEnter's Add
}
