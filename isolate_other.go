//go:build !linux

package ctdefer

import "fmt"

// Isolate moves every thread of the process off the given CPUs. It needs
// Linux: here it returns an error wrapping ErrNotSupported.
func Isolate(cpus ...int) (*Isolation, error) {
	return nil, fmt.Errorf("ctdefer: Isolate(%v): %w", cpus, ErrNotSupported)
}

// Isolation records the threads Isolate moved.
type Isolation struct{}

// Threads returns how many threads Isolate moved.
func (iso *Isolation) Threads() int { return 0 }

// Restore gives every moved thread its previous mask.
func (iso *Isolation) Restore() error { return nil }
