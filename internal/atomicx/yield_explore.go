//go:build ctdefer_explore

package atomicx

// Instrumented reports whether this build stops at every atomic operation for
// the interleaving explorer. It is true under the ctdefer_explore build tag.
const Instrumented = true

// Yield, when non-nil, is called before every atomic operation with the kind
// of access and the word's address. The explorer installs it for the duration
// of one exploration; the hook blocks the caller until the scheduler picks it
// to run. It is nil outside explorations, so instrumented code also runs
// normally (for example the ordinary unit tests under the tag).
var Yield func(op Op, addr *Uint64)

func yield(op Op, u *Uint64) {
	if y := Yield; y != nil {
		y(op, u)
	}
}
