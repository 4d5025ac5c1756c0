//go:build !ctdefer_explore

package atomicx

// Instrumented reports whether this build stops at every atomic operation for
// the interleaving explorer. It is false in production builds.
const Instrumented = false

// yield is a no-op in production builds; the compiler removes the call.
func yield(Op, *Uint64) {}
