package atomicx

// Op names the kind of access an instrumented build reports to its Yield hook.
type Op uint8

// The kinds of access.
const (
	OpLoad Op = iota
	OpStore
	OpAdd
	OpSwap
	OpCAS
	OpWake // Futex.Wake: wakes the threads sleeping on the word
)

var opNames = [...]string{"load", "store", "add", "swap", "cas", "wake"}

// String names the access.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// IsWrite reports whether the access may modify the word (a failed CAS is
// still counted as a potential write: it competes for the line).
func (o Op) IsWrite() bool { return o != OpLoad && o != OpWake }

// Word is any instrumented word, as the explorer's hooks see it: a pointer
// to a Uint64, Uint32, Int64, Int32, Bool or Futex.
type Word interface {
	// Peek returns the word's value, widened to 64 bits, without being a
	// scheduling point: for the explorer's traces and conditions.
	Peek() uint64
}
