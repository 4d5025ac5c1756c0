package ctseq

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// Word is one CPU's context-tracking word: its sequence counter, its pending
// work bits and its state, packed into one atomic 64-bit value so that
// "set work only while the target is in user mode" and "observe the target's
// state" are a single atomic step (exactly-once claim:
// docs/design/word.md).
//
// The zero value is ready to use: state Kernel, sequence 0, no work.
// A Word must not be copied after first use (go vet reports copies).
//
// Methods are split by who may call them:
//   - owner only (the goroutine that plays this CPU): [Word.UserEnter],
//     [Word.KernelEnter], [Word.IdleEnter], [Word.IdleExit], [Word.Enter],
//     [Word.Exit], [Word.Quiesce];
//   - anyone, concurrently: [Word.SetWorkIfUser], [Word.Snapshot],
//     [Word.QuiescentSince].
//
// Owner methods check the state they find and panic on a transition that is
// not allowed ("ctseq: Word.UserEnter outside kernel; ..."). The check reads
// the result of the transition's own add, so it costs nothing on the correct
// path; before panicking the add is undone, restoring the word exactly.
// Misuse never makes another party's delivery vanish: the state encoding
// (misuse loses no delivery, word.md) guarantees that no faulty add produces a word SetWorkIfUser
// accepts, so no sender's bit can be set in the instant between the add and
// its undo and then wiped by the undo. (Quiesce from User leaves the word
// User; a bit accepted there survives the undo, which subtracts only seqInc.)
//
// On 32-bit platforms a Word must be 64-bit aligned: make it the first field
// of its struct, or allocate it on its own.
type Word struct {
	_ percpu.NoCopy // first: a trailing zero-size field would pad Word to 16 bytes

	// v is the packed word, stored with a bias. Layout (word.md, Layout):
	//
	//	[ seq : seqBits ][ reserved ][ work : 16 ][ state : 3 ]
	//
	// The state field holds an encoding (Kernel 3, Idle 2, User 5), chosen
	// so that no transition made from the wrong state yields User, or
	// carries or borrows out of the field. v stores the actual value minus
	// bias (= Kernel's encoding), so that the zero Word is Kernel, sequence
	// 0, no work. In raw terms the state field of Kernel is 0, of User 2, of
	// Idle 7: the hot paths compare v&stateMask with rawKernel or rawUser.
	// Kernel and User words have raw work and sequence fields equal to the
	// actual ones (SetWorkIfUser, KernelEnter and the exits use them
	// directly); an Idle word
	// borrows through them, so decoding goes through actual (Snapshot).
	//
	// Invariants:
	//   - the sequence changes only by the owner, by exactly +1 (mod
	//     2^seqBits) per transition;
	//   - the state changes only by the owner;
	//   - work bits are set only by SetWorkIfUser, only in a word whose state
	//     is User: there they are pending. KernelEnter's add returns them and
	//     leaves them in the Kernel word it produces, where they are claimed;
	//     the owner's next transition out of Kernel (UserEnter or IdleEnter)
	//     subtracts them in its own add. So a User word's bits are pending, a
	//     Kernel word's are claimed (Snapshot.Work reports none), an Idle
	//     word has none, and in any word whose state is not User the work
	//     bits are frozen for everyone but the owner.
	v atomicx.Uint64
}

// UserEnter moves the owner from Kernel to User: from here on deferrable work
// is accepted instead of being sent as an IPI.
//
// Owner only; the word must be in Kernel (after KernelEnter, IdleExit, or at
// the start). The same add clears the bits the last KernelEnter claimed (see
// there), so the word enters User with none pending.
func (w *Word) UserEnter() {
	w.exitKernel(delta(encKernel, encUser), rawUser, opUserEnter)
}

// exitKernel is UserEnter (d = delta(Kernel, User)) and IdleEnter (d =
// delta(Kernel, Idle)): one add that changes the state, advances the
// sequence and clears the claimed bits.
//
// The load reads the claimed bits. In Kernel no one but the owner writes the
// word (every sender's CAS expects User), so the load returns the word the
// add will modify, and subtracting its work field, whose bits are all set,
// borrows nothing: the add leaves the new state, the next sequence and no
// work bits. On misuse (the word is not Kernel) the subtraction is harmless:
// it is a multiple of 2^workShift, so the faulty word's state field is the
// one the state encoding guarantees no sender accepts (misuse loses no delivery), only its
// work and sequence fields may differ; and the undo subtracts the same d, so
// it restores the word exactly (a sender's bit accepted before the load, in
// a User word, is still set: only the owner clears bits).
func (w *Word) exitKernel(d, want uint64, op int) {
	d -= w.v.Load() & workMask // load: the claimed bits; only the owner writes a Kernel word
	// RMW: publish the new state. Full barrier: everything the owner did
	// in the kernel happens before any sender's SetWorkIfUser that
	// observes User (pairs with the load/CAS there), and before any
	// observer that sees Idle (pairs with Snapshot and QuiescentSince, and
	// with the runtime's run-on-behalf decision).
	n := w.v.Add(d)
	if n&stateMask != want {
		w.v.Add(-d) // RMW: undo the faulty add (see misuseError)
		panic(misuse[op])
	}
}

// KernelEnter moves the owner from User to Kernel and returns the work that
// was pending at that instant. The caller must run it ([Table.Drain]) before
// it relies on any state the work protects: the stretch between KernelEnter
// and the drain is the danger zone.
//
// Owner only; the word must be in User.
//
// Every bit accepted by SetWorkIfUser while the owner was in User is returned
// by exactly one KernelEnter: the add below is the one instant at which
// acceptance stops, and the bits it returns are frozen from then on. An entry
// with work costs the same single atomic add as one without: the returned
// bits stay in the word as claimed bits (Snapshot.Work does not report them)
// and the owner's next UserEnter or IdleEnter clears them in its own add.
func (w *Word) KernelEnter() Work {
	// RMW: leave User, advance the sequence, and read the pending work in
	// the same atomic step. From this instant every SetWorkIfUser fails
	// (its CAS expected a User word) and its caller sends an IPI instead:
	// a bit set before this add is returned here, a bit attempted after
	// it is refused. Pairs with the CAS in SetWorkIfUser.
	d := delta(encUser, encKernel)
	n := w.v.Add(d)
	if n&stateMask != rawKernel {
		w.v.Add(-d) // RMW: undo the faulty add (see misuseError)
		panic(misuse[opKernelEnter])
	}
	// The claim: the bits stay in the word, claimed, until the owner's next
	// UserEnter or IdleEnter subtracts them in its own add. Nothing else
	// can touch them (senders refuse a Kernel word), so clearing them here
	// would cost a second atomic operation per entry with work and buy
	// nothing. A raw Kernel word's work field is the actual one (word.md, Layout).
	return workOf(n)
}

// IdleEnter moves the owner from Kernel to Idle (parked).
//
// Owner only; the word must be in Kernel. The same add clears the bits the
// last KernelEnter claimed, so an Idle word carries no work.
func (w *Word) IdleEnter() {
	w.exitKernel(delta(encKernel, encIdle), rawIdle, opIdleEnter)
}

// IdleExit moves the owner from Idle back to Kernel and returns the work that
// was pending at that instant (always empty today, since SetWorkIfUser
// refuses Idle; returned so that the contract does not change if Idle ever
// accepts work).
//
// Owner only; the word must be in Idle.
func (w *Word) IdleExit() Work {
	// RMW: leave Idle and advance the sequence. Full barrier: whatever
	// observers did before they saw the new sequence is ordered before
	// the owner's kernel code that follows.
	d := delta(encIdle, encKernel)
	n := w.v.Add(d)
	if n&stateMask != rawKernel {
		w.v.Add(-d) // RMW: undo the faulty add (see misuseError)
		panic(misuse[opIdleExit])
	}
	return workOf(n) // an Idle word has no work (IdleEnter cleared it), so 0
}

// Quiesce advances the sequence without leaving the kernel: the owner
// declares a quiescent state inside a kernel stretch (it holds no reference
// that a grace period must wait for), the way RCU's QSBR flavour reports one.
// QuiescentSince then answers true for snapshots taken before it.
//
// Owner only; the word must be in Kernel. It is a transition for the
// sequence (it advances it, as every transition does) but not for the
// state, so work acceptance is unaffected.
func (w *Word) Quiesce() {
	// RMW: advance the sequence. Full barrier: the owner's accesses before
	// it happen before any observer's QuiescentSince that sees the new
	// sequence (pairs with the load in QuiescentSince).
	n := w.v.Add(seqInc)
	if n&stateMask != rawKernel {
		w.v.Sub(seqInc) // RMW: undo the faulty add (see misuseError)
		panic(misuse[opQuiesce])
	}
}

// SetWorkIfUser sets the bits of work in the word if, and only if, the owner
// is in User, reports whether it did, and returns the word it decided on
// (at): on success the User word the bits were accepted in, on refusal the
// word that was not in User.
//
// ok: the owner will run the work at its next KernelEnter, which has not
// happened yet; the caller must not also send an IPI. Bits already pending
// are coalesced: one execution serves every request made before it. The
// transition that returns the bits is the owner's next one, whose sequence
// is at.Seq()+1 modulo SeqMask+1: a caller that must wait for the work to
// have run waits for that entry (see SeqReached).
//
// Not ok: the owner was in Kernel or Idle at the instant of the decision
// (at.State() says which; or the word was transient: caught in a misused
// transition, see Word), and the word is unchanged; the caller must
// deliver the work another way (an IPI to a Kernel owner, a wake-up or a run
// on its behalf for an Idle one).
//
// Idle refuses on purpose: a parked CPU may never enter the kernel again on
// its own, so work left in its word could wait forever; the runtime decides
// whether to wake it or to run the work on its behalf.
//
// Any goroutine may call SetWorkIfUser, concurrently with the owner and with
// other senders. SetWorkIfUser(0) sets no bit but still writes the word when
// the owner is in User, so that what the caller did before it happens before
// the owner's next kernel entry (FlushOnEntry runtimes use this).
func (w *Word) SetWorkIfUser(work Work) (at Snapshot, ok bool) {
	old, ok := w.setWork(work)
	return Snapshot{old}, ok
}

// setWork is SetWorkIfUser's decision and CAS, returning the raw word it
// decided on. It has no call in it, so that it inlines, and SetWorkIfUser
// with it: a sender's fast path (ctdefer.Domain.Defer) makes the CAS
// without a call of its own.
func (w *Word) setWork(work Work) (uint64, bool) {
	// load: first guess for the CAS; also the decision point when the bits
	// are already pending (see below). Pairs with the owner's transitions.
	old := w.v.Load()
	for {
		if old&stateMask != rawUser {
			// The owner is in the kernel or idle at this load (or the
			// word is transient): refuse, leaving no trace.
			return old, false
		}
		// A raw User word's work field is the actual one (word.md, Layout).
		n := old | uint64(work)<<workShift
		// CAS: set the bits only in the User word just observed. If the
		// owner transitioned in between, the sequence or state differs,
		// the CAS fails and the loop re-decides on the fresh value: the
		// decision and the write are one atomic step (the two-atomic race of
		// the LKML thread "context-tracking: Introduce work deferral
		// infrastructure", July 2023, cannot happen). Pairs with the Add in
		// KernelEnter, which returns the bits this CAS set and, by
		// reading this write, orders everything the sender did before it
		// (the work's payload) before the handler.
		//
		// The CAS is made even when every bit is already pending (n ==
		// old): a load that saw them would decide correctly, but it
		// writes nothing the owner's Add could read from, so the
		// sender's earlier writes would not be ordered before the
		// handler that serves it. The kernel always writes too.
		if w.v.CompareAndSwap(old, n) {
			return old, true
		}
		// load: the word changed: another sender's CAS won, or the owner
		// made transitions. Retry with the current value. The loop is
		// lock-free, not wait-free: it repeats only if the fresh word is
		// User again, i.e. another sender succeeded or the owner made a
		// whole kernel round trip in between; an owner cycling without
		// pause could in principle starve one sender, never all.
		old = w.v.Load()
	}
}

// misuseError is the panic value of an owner transition made from the wrong
// state. The transition first undoes its add, restoring the word the owner
// found: the faulty word in between is refused by every sender (misuse loses no delivery),
// so nothing else can have changed it, except a sender's bit accepted in a
// User word that Quiesce left User, which the undo keeps. Building the value
// needs no call, which keeps the transitions small enough to inline.
type misuseError struct {
	method string
	want   State
}

// Owner transitions, for misuse reports.
const (
	opUserEnter = iota
	opKernelEnter
	opIdleEnter
	opIdleExit
	opQuiesce
)

// misuse holds the panic values of the transitions, built once, so that
// the check in each transition needs no call and the transitions stay small
// enough to inline.
var misuse = [...]error{
	opUserEnter:   misuseError{"UserEnter", Kernel},
	opKernelEnter: misuseError{"KernelEnter", User},
	opIdleEnter:   misuseError{"IdleEnter", Kernel},
	opIdleExit:    misuseError{"IdleExit", Idle},
	opQuiesce:     misuseError{"Quiesce", Kernel},
}

// Error names the transition and the state it needs.
func (e misuseError) Error() string {
	return fmt.Sprintf("ctseq: Word.%s outside %v; transitions are owner-only and must alternate",
		e.method, e.want)
}
