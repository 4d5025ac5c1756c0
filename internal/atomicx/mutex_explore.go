//go:build ctdefer_explore

package atomicx

// explorerLock is the lock as the explorer sees it: held by a thread of the
// current exploration. Explored threads run one at a time, so plain fields
// are enough; Setup, checks and goroutines outside the exploration use the
// real sync.Mutex (they never overlap with the threads' critical sections,
// which the scheduler serialises).
type explorerLock struct {
	held bool
	mine bool // the holder took the explorer's path
}

// InThread, set by the explorer, reports whether the caller is a thread of
// the running exploration (for which locks are explored).
var InThread func() bool

func (l *explorerLock) lock() bool {
	if f := InThread; f == nil || !f() {
		return false
	}
	Await(func() bool { return !l.held })
	l.held, l.mine = true, true
	return true
}

func (l *explorerLock) tryLock() (ok, handled bool) {
	if f := InThread; f == nil || !f() {
		return false, false
	}
	if l.held {
		return false, true
	}
	l.held, l.mine = true, true
	return true, true
}

func (l *explorerLock) unlock() bool {
	if !l.mine {
		return false
	}
	l.held, l.mine = false, false
	return true
}

// peek reports whether a thread of the exploration holds the lock.
func (l *explorerLock) peek() uint64 {
	if l.held {
		return 1
	}
	return 0
}
