package ctseq

import "fmt"

// The word's layout, most significant bit first:
//
//	 63            64-SeqBits                       19 18          3 2     0
//	+-------------+--------------------------------+--------------+-------+
//	|  sequence   |  reserved (0 in normal builds) |  work bits   | state |
//	+-------------+--------------------------------+--------------+-------+
//	   SeqBits          reservedBits                 WorkBits      StateBits
//
// The sequence sits in the top bits so that adding seqInc wraps it modulo
// 2^SeqBits for free: the carry out of bit 63 is discarded, and no transition
// needs a mask or a compare-and-swap to keep the counter in its field. The
// state sits in the bottom bits so that a transition is one atomic add of
// seqInc plus the (signed) difference of the two states' encodings.
//
// # The state encoding
//
// The state field holds an encoding of the State, not the State itself:
//
//	Kernel 3 (encKernel), Idle 2 (encIdle), User 5 (encUser)
//
// chosen so that a transition made from the wrong state (misuse, which the
// owner detects on the result of its add, undoes and reports with a panic)
// can never produce a word that a sender accepts. For every transition a->b
// and every state c != a, the field value c+b-a of the faulty result
//   - stays in [0, 2^StateBits): no carry or borrow leaves the state field,
//     so the work bits (and the reserved bits) are untouched, and the undo
//     restores the word exactly, pending bits included;
//   - is never encUser: SetWorkIfUser refuses the word, so no sender's bit
//     can be set in the instant between the add and the undo, where the undo
//     would wipe it. (With the kernel's values Kernel 0, Idle 1, User 2 in a
//     2-bit field, KernelEnter in Kernel borrowed through the work bits and
//     produced User with every bit set, and IdleEnter in Idle produced User:
//     a concurrent delivery was accepted, then wiped by the undo.)
//
// TestEncodingMisuseNeverAccepted checks both for every pair. The faulty
// values (0, 1, 4, 6, 7) are no state's encoding; Snapshot.State reports them
// as Transient. Quiesce adds seqInc alone: from User it leaves the word User,
// which is harmless, since a sender accepted in that window keeps its bit
// through the undo (which subtracts seqInc alone) and the owner's next entry
// returns it.
//
// The exits from Kernel (UserEnter, IdleEnter) also subtract the work field
// they load (the bits the last entry claimed), in the same add. A multiple
// of 2^workShift leaves the state field alone, so the faulty word of a
// misused exit has the state field above; its work and sequence fields may
// differ for the instant before the undo, which subtracts the same addend
// and so restores the word exactly (a bit a sender set in a User word before
// the load is still set: only the owner clears bits).
//
// # The bias
//
// Word.v stores raw = actual - bias (uint64 arithmetic, wrapping), with
// bias = encKernel, so that raw 0, the zero Word, is Kernel with sequence 0
// and no work. Since adds commute with the bias, transitions add the same
// deltas to raw as to actual. Consequences:
//   - the state can be read from raw's low StateBits bits alone (adding the
//     bias back to the whole word only carries out of the field), and Kernel,
//     User and Idle read as rawKernel 0, rawUser 2 and rawIdle 7 there: the
//     hot-path checks compare raw&stateMask with a constant, at no extra cost;
//   - in a Kernel or User word (field >= bias) raw's work and sequence fields
//     equal the actual ones, so SetWorkIfUser's OR into a User word, and
//     KernelEnter's read and the exit's subtraction of the claimed bits in a
//     Kernel word, work on raw directly; in an Idle
//     word (field 2 < 3) the bias borrows through them, so code that decodes
//     any word (Snapshot) adds the bias back first.

const (
	// StateBits is the width of the state field.
	StateBits = 3
	// WorkBits is the number of distinct work bits a word carries.
	WorkBits = 16
	// SeqBits is the width of the sequence counter: 45 bits in normal builds,
	// 2 bits under the ctdefer_narrowseq build tag, which makes the counter
	// wrap every four transitions to flush out wrap bugs (the kernel's
	// RCU_DYNTICKS_TORTURE).
	//
	// 2^45 transitions take about 9.8 hours at one per nanosecond, far
	// beyond any real owner's rate, but not beyond a process's lifetime, so
	// the sequence does wrap and the code that compares sequences must
	// tolerate it. QuiescentSince does: a wrap can only make it answer a
	// false "not yet" for an owner that is back in the kernel (see there).
	// SeqReached orders two sequences only while they are less than
	// 2^(SeqBits-1) = 2^44 transitions apart (about 4.9 hours at one per
	// nanosecond): the runtime's DeferWait relies on that for a waiter
	// comparing the owner's drained sequence with its ticket. The runtime
	// retires a published sequence whenever the owner leaves the kernel
	// with no waiter registered, so the bound is on the owner's transitions
	// while waiters stay registered without a break: 2^44 of them take 20
	// days at one per 100 ns. The narrow build (2 bits) breaks it within a
	// few transitions, so it is for this package and the interleaving
	// explorer, not for the runtime's waits.
	SeqBits = seqBits

	stateShift = 0
	workShift  = StateBits
	seqShift   = 64 - SeqBits

	stateMask = uint64(1)<<StateBits - 1
	workMask  = (uint64(1)<<WorkBits - 1) << workShift
	seqInc    = uint64(1) << seqShift
)

// The state encoding and the bias (see above).
const (
	encKernel = 3
	encIdle   = 2
	encUser   = 5

	// bias is subtracted from every actual word value to give the stored
	// one, so that the zero Word is Kernel.
	bias = uint64(encKernel)

	// The state fields of raw (stored) words: (enc - bias) mod 2^StateBits.
	rawKernel = (encKernel - bias) & stateMask
	rawIdle   = (encIdle + stateMask + 1 - bias) & stateMask
	rawUser   = (encUser - bias) & stateMask

	// quiescentRaw has bit r set for the raw state fields r of the
	// quiescent states, User and Idle.
	quiescentRaw = uint64(1)<<rawUser | uint64(1)<<rawIdle
)

// Compile-time checks: the four fields cover exactly 64 bits (each array
// length below is a constant that must be >= 0, so together they force
// equality), the work field ends where the reserved bits begin, and the
// encodings fit in the state field.
var (
	_ [StateBits + WorkBits + reservedBits + SeqBits - 64]struct{}
	_ [64 - (StateBits + WorkBits + reservedBits + SeqBits)]struct{}
	_ [seqShift - (workShift + WorkBits + reservedBits)]struct{}
	_ [(workShift + WorkBits + reservedBits) - seqShift]struct{}
	_ [stateMask - encKernel]struct{}
	_ [stateMask - encIdle]struct{}
	_ [stateMask - encUser]struct{}
)

// State is what a CPU is doing, as far as deferral is concerned.
type State uint8

// The states. The numeric values of Kernel, Idle and User match the kernel's
// context-tracking states; the word stores an encoding of them (see above).
const (
	// Kernel: the CPU runs the runtime's own code. It takes IPIs; deferral
	// is refused. This is the zero value.
	Kernel State = 0
	// Idle: the CPU is parked. Deferral is refused (see [Word.SetWorkIfUser]).
	Idle State = 1
	// User: the CPU runs the application's hot loop and must not be
	// disturbed. Deferral is accepted.
	User State = 2
	// Transient is no state the owner can be in: Snapshot.State reports it
	// for a word caught in the instant between a misused owner transition's
	// add and its undo (see Word). Such a word refuses deferral and is not
	// quiescent; the owner is still in the state it was in before the
	// misuse, which the undo restores before the panic.
	Transient State = 3
)

var stateNames = [...]string{"kernel", "idle", "user", "transient"}

// String returns "kernel", "idle", "user" or "transient".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// rawStates maps the state field of a raw word to its State.
var rawStates = func() (t [1 << StateBits]State) {
	for i := range t {
		t[i] = Transient
	}
	t[rawKernel] = Kernel
	t[rawIdle] = Idle
	t[rawUser] = User
	return t
}()

// Field accessors. stateOf and quiescent take a raw (stored) word; workOf
// and seqOf take an actual value (raw+bias), or a raw Kernel or User word,
// whose work and sequence fields are the actual ones.
func stateOf(raw uint64) State  { return rawStates[raw&stateMask] }
func quiescent(raw uint64) bool { return quiescentRaw>>(raw&stateMask)&1 != 0 }
func workOf(v uint64) Work      { return Work((v & workMask) >> workShift) }
func seqOf(v uint64) uint64     { return v >> seqShift }

// actual returns the value a raw (stored) word stands for.
func actual(raw uint64) uint64 { return raw + bias }

// delta returns the addend that moves a word from the state encoded as from
// to the state encoded as to (encKernel, encIdle, encUser) and advances the
// sequence by one: seqInc + to - from, in two's complement. It is the same
// for raw and actual values. Transitions pass the encodings as constants, so
// the addend is a constant.
func delta(from, to uint64) uint64 {
	return seqInc + to - from
}
