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

	// AwaitHook is called by Await (timed false) and AwaitTimed (timed
	// true): it reports handled false if the caller is not a thread of the
	// exploration. Else it returns once cond holds, or, for a timed wait
	// in an exploration that models time, when the scheduler lets the
	// wait's time run out (expired true; cond did not hold at that step).
	AwaitHook func(cond func() bool, timed bool) (handled, expired bool)
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
// does not end it: a wait ends only when its condition holds).
func Await(cond func() bool) bool {
	if a := AwaitHook; a != nil {
		handled, _ := a(cond, false)
		return handled
	}
	return false
}

// AwaitTimed is Await for a wait that a deadline or a timeout can also end.
// It reports handled false when the caller is not a thread of an
// exploration (the caller then waits its own way). Otherwise it returns
// once cond holds (expired false) or, in an exploration that models time
// (explore.Options.Timeouts), at whichever step the explorer chooses to let
// the wait's time run out while cond does not hold (expired true): every
// point at which a timeout could fire is explored, with no clock.
func AwaitTimed(cond func() bool) (handled, expired bool) {
	if a := AwaitHook; a != nil {
		return a(cond, true)
	}
	return false, false
}
