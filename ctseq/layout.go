package ctseq

import "fmt"

// The word's layout, most significant bit first:
//
//	 63            64-SeqBits                       18 17          2 1     0
//	+-------------+--------------------------------+--------------+-------+
//	|  sequence   |  reserved (0 in normal builds) |  work bits   | state |
//	+-------------+--------------------------------+--------------+-------+
//	   SeqBits          reservedBits                 WorkBits      StateBits
//
// The sequence sits in the top bits so that adding seqInc wraps it modulo
// 2^SeqBits for free: the carry out of bit 63 is discarded, and no transition
// needs a mask or a compare-and-swap to keep the counter in its field. The
// state sits in the bottom bits so that a transition is one atomic add of
// seqInc plus the (signed) difference of the two state values: the state
// difference never borrows from or carries into the work bits, because the
// owner adds it only when it knows the current state.

const (
	// StateBits is the width of the state field.
	StateBits = 2
	// WorkBits is the number of distinct work bits a word carries.
	WorkBits = 16
	// SeqBits is the width of the sequence counter: 46 bits in normal builds
	// (2^46 transitions take days even at one per nanosecond), 2 bits under
	// the ctdefer_narrowseq build tag, which makes the counter wrap every
	// four transitions to flush out wrap bugs (the kernel's
	// RCU_DYNTICKS_TORTURE).
	SeqBits = seqBits

	stateShift = 0
	workShift  = StateBits
	seqShift   = 64 - SeqBits

	stateMask = uint64(1)<<StateBits - 1
	workMask  = (uint64(1)<<WorkBits - 1) << workShift
	seqInc    = uint64(1) << seqShift
)

// Compile-time checks: the four fields cover exactly 64 bits (each array
// length below is a constant that must be >= 0, so together they force
// equality), and the work field ends where the reserved bits begin.
var (
	_ [StateBits + WorkBits + reservedBits + SeqBits - 64]struct{}
	_ [64 - (StateBits + WorkBits + reservedBits + SeqBits)]struct{}
	_ [seqShift - (workShift + WorkBits + reservedBits)]struct{}
	_ [(workShift + WorkBits + reservedBits) - seqShift]struct{}
)

// State is what a CPU is doing, as far as deferral is concerned.
type State uint8

// The states. The numeric values match the kernel's context-tracking states.
const (
	// Kernel: the CPU runs the runtime's own code. It takes IPIs; deferral
	// is refused. This is the zero value.
	Kernel State = 0
	// Idle: the CPU is parked. Deferral is refused (see SetWorkIfUser).
	Idle State = 1
	// User: the CPU runs the application's hot loop and must not be
	// disturbed. Deferral is accepted.
	User State = 2
)

var stateNames = [...]string{"kernel", "idle", "user", "reserved"}

// String returns "kernel", "idle", "user" or "reserved".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// field accessors on a raw word value.
func stateOf(v uint64) State { return State(v >> stateShift & stateMask) }
func workOf(v uint64) Work   { return Work((v & workMask) >> workShift) }
func seqOf(v uint64) uint64  { return v >> seqShift }

// delta returns the addend that moves a word from state from to state to and
// advances the sequence by one: seqInc + to - from, in two's complement.
func delta(from, to State) uint64 {
	return seqInc + uint64(to) - uint64(from)
}
