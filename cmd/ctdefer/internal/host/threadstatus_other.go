//go:build !linux

package host

import "errors"

// ThreadStatus reads a thread's context-switch counters: Linux only.
type ThreadStatus struct{}

// OpenThreadStatus needs Linux.
func OpenThreadStatus() (*ThreadStatus, error) {
	return nil, errors.New("/proc/thread-self/status: Linux only")
}

// Switches needs Linux.
func (t *ThreadStatus) Switches() (voluntary, involuntary uint64, err error) {
	return 0, 0, errors.New("/proc/thread-self/status: Linux only")
}

// Close does nothing.
func (t *ThreadStatus) Close() error { return nil }
