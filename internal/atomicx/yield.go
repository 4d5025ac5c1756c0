//go:build !ctdefer_explore

package atomicx

// Instrumented reports whether this build stops at every atomic operation for
// the interleaving explorer. It is false in production builds.
const Instrumented = false

// yield is a no-op in production builds; the compiler removes the call.
func yield(Op, Word) {}

// block is the explorer's futex sleep; production builds always sleep for
// real.
func block(*Futex, uint32) bool { return false }

// Await reports false in production builds: the caller waits for cond its
// own way (spinning, sleeping). Under the explorer it is where a waiting
// thread hands the wait to the scheduler (see yield_explore.go).
func Await(cond func() bool) bool { return false }

// AwaitTimed reports handled false in production builds: the caller waits
// for cond its own way, until its deadline. Under the explorer it is where a
// wait that time can end hands itself to the scheduler (see
// yield_explore.go).
func AwaitTimed(cond func() bool) (handled, expired bool) { return false, false }
