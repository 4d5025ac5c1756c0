//go:build !ctdefer_explore

package atomicx

// explorerLock is empty in normal builds: every method reports "not
// handled" and compiles away.
type explorerLock struct{}

func (explorerLock) lock() bool                  { return false }
func (explorerLock) tryLock() (ok, handled bool) { return false, false }
func (explorerLock) unlock() bool                { return false }

func (explorerLock) peek() uint64 { return 0 }
