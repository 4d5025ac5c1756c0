package sysx

import "errors"

// ErrNotSupported is returned (wrapped) by every function that needs a
// facility this platform or kernel lacks: all of them on systems other than
// Linux, and on Linux those whose system call fails with ENOSYS (for
// example membarrier on a kernel built without CONFIG_MEMBARRIER). The root
// package ctdefer re-exports this same value, so errors.Is works across
// packages.
var ErrNotSupported = errors.New("not supported on this platform")

// ErrTimeout is returned by [FutexWait] when its timeout expires
// before the thread is woken.
var ErrTimeout = errors.New("sysx: futex wait timed out")
