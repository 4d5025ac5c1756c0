package ctseq

import "fmt"

// The word's layout, most significant bit first:
//
//	 63            64-seqBits                       19 18          3 2     0
//	+-------------+--------------------------------+--------------+-------+
//	|  sequence   |  reserved (0 in normal builds) |  work bits   | state |
//	+-------------+--------------------------------+--------------+-------+
//
// A transition is one add of seqInc plus the difference of two state
// encodings (Kernel 3, Idle 2, User 5). The word is stored minus a bias of
// 3, so that the zero Word is Kernel. The compile-time checks below pin the
// widths. Why this encoding ("misuse loses no delivery") and how the bias
// reads: docs/design/word.md, Layout.

const (
	// stateBits is the width of the state field.
	stateBits = 3
	// WorkBits is the number of distinct work bits a word carries.
	WorkBits = 16
	// seqBits is the width of the sequence counter: 45 bits in normal builds,
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
	// 2^(seqBits-1) = 2^44 transitions apart (about 4.9 hours at one per
	// nanosecond): the runtime's DeferWait relies on that for a waiter
	// comparing the owner's drained sequence with its ticket. The runtime
	// retires a published sequence whenever the owner leaves the kernel
	// with no waiter registered, so the bound is on the owner's transitions
	// while waiters stay registered without a break: 2^44 of them take 20
	// days at one per 100 ns. The narrow build (2 bits) breaks it within a
	// few transitions, so it is for this package and the interleaving
	// explorer, not for the runtime's waits.
	seqBits = buildSeqBits

	stateShift = 0
	workShift  = stateBits
	seqShift   = 64 - seqBits

	stateMask = uint64(1)<<stateBits - 1
	workMask  = (uint64(1)<<WorkBits - 1) << workShift
	seqInc    = uint64(1) << seqShift
)

// The state encoding and the bias (word.md, Layout).
const (
	encKernel = 3
	encIdle   = 2
	encUser   = 5

	// bias is subtracted from every actual word value to give the stored
	// one, so that the zero Word is Kernel.
	bias = uint64(encKernel)

	// The state fields of raw (stored) words: (enc - bias) mod 2^stateBits.
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
	_ [stateBits + WorkBits + reservedBits + seqBits - 64]struct{}
	_ [64 - (stateBits + WorkBits + reservedBits + seqBits)]struct{}
	_ [seqShift - (workShift + WorkBits + reservedBits)]struct{}
	_ [(workShift + WorkBits + reservedBits) - seqShift]struct{}
	_ [stateMask - encKernel]struct{}
	_ [stateMask - encIdle]struct{}
	_ [stateMask - encUser]struct{}
)

// State is what a CPU is doing, as far as deferral is concerned.
type State uint8

// The states. The numeric values of Kernel, Idle and User match the kernel's
// context-tracking states; the word stores an encoding of them (word.md, Layout).
const (
	// Kernel: the CPU runs the runtime's own code. It takes IPIs; deferral
	// is refused. This is the zero value.
	Kernel State = 0
	// Idle: the CPU is parked. Deferral is refused (see [Word.SetWorkIfUser]).
	Idle State = 1
	// User: the CPU runs the application's hot loop and must not be
	// disturbed. Deferral is accepted.
	User State = 2
	// transient is no state the owner can be in: Snapshot.State reports it
	// for a word caught in the instant between a misused owner transition's
	// add and its undo (see Word). Such a word refuses deferral and is not
	// quiescent; the owner is still in the state it was in before the
	// misuse, which the undo restores before the panic.
	transient State = 3
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
var rawStates = func() (t [1 << stateBits]State) {
	for i := range t {
		t[i] = transient
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
