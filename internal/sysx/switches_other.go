//go:build !linux

package sysx

import "fmt"

// ThreadStatus reads a thread's context-switch counters: Linux only.
type ThreadStatus struct{ tid int }

// OpenThreadStatus returns an error wrapping ErrNotSupported off Linux.
func OpenThreadStatus(tid int) (*ThreadStatus, error) {
	return nil, fmt.Errorf("sysx: context switches of thread %d: %w", tid, ErrNotSupported)
}

// Switches returns an error wrapping ErrNotSupported off Linux.
func (t *ThreadStatus) Switches() (voluntary, involuntary uint64, err error) {
	return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %w", t.tid, ErrNotSupported)
}

// Close does nothing.
func (t *ThreadStatus) Close() error { return nil }

// ThreadSwitches returns an error wrapping ErrNotSupported off Linux.
func ThreadSwitches(tid int) (voluntary, involuntary uint64, err error) {
	return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %w", tid, ErrNotSupported)
}
