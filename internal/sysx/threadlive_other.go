//go:build !linux

package sysx

import "fmt"

// ThreadStart is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func ThreadStart(tid int) (uint64, error) {
	return 0, fmt.Errorf("sysx: start time of thread %d: %w", tid, ErrNotSupported)
}

// ThreadAlive reports true on this platform: without thread IDs a thread's
// end cannot be observed, so nothing is ever reclaimed on a guess.
func ThreadAlive(tid int, start uint64) bool { return true }
