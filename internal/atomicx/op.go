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
)

var opNames = [...]string{"load", "store", "add", "swap", "cas"}

// String names the access.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// IsWrite reports whether the access may modify the word (a failed CAS is
// still counted as a potential write: it competes for the line).
func (o Op) IsWrite() bool { return o != OpLoad }
