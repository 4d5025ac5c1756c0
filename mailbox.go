package ctdefer

import (
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// mailbox is a CPU's IPI mailbox: one atomic word
//
//	 63                    17     16      15            0
//	+-----------------------+--------+----------------+
//	|  generation (47 bits) |  dead  |  pending work  |
//	+-----------------------+--------+----------------+
//
// Protocol:
//
//  1. A sender posts work by a CAS that ORs the bits in, unless the mailbox
//     is dead. If it saw generation g, the claim that moves the generation
//     to g+1 takes its bits (as with the context-tracking word, bits already
//     pending are coalesced), and post returns g+1: its ticket, the value
//     slot.ipiDone reaches once that claim's work has run.
//  2. The owner claims by a CAS that clears the bits and advances the
//     generation; it runs the bits it took and then publishes g+1 in
//     slot.ipiDone, which synchronous senders wait for.
//  3. Close kills the mailbox of a released CPU: one CAS sets dead and takes
//     whatever is pending, so no post can slip in afterwards and be lost.
//
// The owner's claim and the senders' posts are read-modify-writes of one
// word, so a bit is taken by exactly one claim (exactly-once delivery,
// docs/design/delivery.md).
type mailbox struct {
	v atomicx.Uint64
}

const (
	mboxWorkMask = uint64(1)<<ctseq.WorkBits - 1
	mboxDead     = uint64(1) << ctseq.WorkBits
	mboxGenShift = ctseq.WorkBits + 1
	mboxGenInc   = uint64(1) << mboxGenShift
)

// post ORs work into the mailbox and returns the generation to wait for.
// ok is false if the mailbox is dead (the Domain closed).
func (m *mailbox) post(work ctseq.Work) (gen uint64, ok bool) {
	old := m.v.Load() // load: first guess for the CAS
	for {
		if old&mboxDead != 0 {
			return 0, false
		}
		n := old | uint64(work)
		// CAS: post, even if the bits are already pending (then it
		// rewrites the same value). Full barrier: whatever the sender
		// wrote before Defer happens before the owner's claim, which
		// reads this write (pairs with the CAS in claim); a load alone
		// would publish nothing.
		if m.v.CompareAndSwap(old, n) {
			return old>>mboxGenShift + 1, true
		}
		old = m.v.Load() // load: retry on the fresh value
	}
}

// pending reports whether any work is posted. It is the owner's poll: one
// load of a line that senders write only when they post.
func (m *mailbox) pending() bool {
	return m.v.Load()&mboxWorkMask != 0 // load: pairs with the CAS in post
}

// claim takes the pending work and advances the generation. It returns the
// work and the generation to publish once it has run.
func (m *mailbox) claim() (work ctseq.Work, gen uint64) {
	old := m.v.Load() // load: first guess for the CAS
	for {
		if old&mboxWorkMask == 0 {
			return 0, 0
		}
		n := old&mboxDead | (old>>mboxGenShift+1)<<mboxGenShift
		// CAS: take every pending bit and move to the next generation.
		// Pairs with the CAS in post: a post either lands before (its
		// bits are taken here) or after (it sees the new generation and
		// waits for the next claim).
		if m.v.CompareAndSwap(old, n) {
			return ctseq.Work(old & mboxWorkMask), n >> mboxGenShift
		}
		old = m.v.Load() // load: a sender posted meanwhile; retry
	}
}

// kill marks the mailbox dead and takes what was pending. Only Close calls
// it, after the CPU is released.
func (m *mailbox) kill() (work ctseq.Work, gen uint64) {
	old := m.v.Load() // load: first guess for the CAS
	for {
		n := mboxDead | (old>>mboxGenShift+1)<<mboxGenShift
		// CAS: dead and empty in one step; pairs with the CAS in post,
		// which refuses once it sees dead.
		if m.v.CompareAndSwap(old, n) {
			return ctseq.Work(old & mboxWorkMask), n >> mboxGenShift
		}
		old = m.v.Load() // load: retry
	}
}
