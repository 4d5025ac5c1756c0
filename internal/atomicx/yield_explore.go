//go:build ctdefer_explore

package atomicx

// Instrumented reports whether this build stops at every atomic operation for
// the interleaving explorer. It is true under the ctdefer_explore build tag.
const Instrumented = true

// The explorer's hooks. It installs them for the duration of one
// exploration; each blocks the caller until the scheduler picks it to run.
// They are nil outside explorations, so instrumented code also runs normally
// (for example the ordinary unit tests under the tag).
var (
	// Yield is called before every atomic operation with the kind of
	// access and the word.
	Yield func(op Op, w Word)

	// Block is called by Futex.Wait instead of sleeping: it reports false
	// if the caller is not a thread of the exploration (then the futex is
	// slept on for real), else it returns once the word no longer holds
	// val or a Wake of the word has run. Blocking is part of the explored
	// state: if every thread left is blocked or waiting, the run is a
	// deadlock (a lost wake-up).
	Block func(f *Futex, val uint32) bool

	// AwaitHook is called by Await: it reports false if the caller is not
	// a thread of the exploration, else it returns once cond holds.
	AwaitHook func(cond func() bool) bool
)

func yield(op Op, w Word) {
	if y := Yield; y != nil {
		y(op, w)
	}
}

func block(f *Futex, val uint32) bool {
	if b := Block; b != nil {
		return b(f, val)
	}
	return false
}

// Await hands a wait for cond to the explorer and reports true once cond
// holds, when the caller is a thread of an exploration; otherwise it reports
// false at once and the caller waits its own way. Code that spins or sleeps
// until a condition holds calls it first, so that explorations see the wait
// as one blocking step instead of an unbounded number of polls (time passing
// is not modelled: a wait ends only when its condition holds).
func Await(cond func() bool) bool {
	if a := AwaitHook; a != nil {
		return a(cond)
	}
	return false
}
