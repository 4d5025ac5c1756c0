//go:build !linux

package sysx

import "fmt"

// ThreadSwitches returns an error wrapping ErrNotSupported off Linux.
func ThreadSwitches(tid int) (voluntary, involuntary uint64, err error) {
	return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %w", tid, ErrNotSupported)
}
