//go:build !linux

package ctdefer

import "fmt"

// Isolate moves every thread of the process off the given CPUs. It needs
// Linux: here it returns an error wrapping [ErrNotSupported]. The CPU numbers
// are checked first, as on Linux: a negative number or one above MaxCPU is
// a programming error on every platform, reported with ErrBadCPU. (Whether
// a CPU is in the process's allowed set cannot be told here: there is no
// such set.)
func Isolate(cpus ...int) (*Isolation, error) {
	for _, c := range cpus {
		if c < 0 || c > MaxCPU {
			return nil, fmt.Errorf("ctdefer: Isolate(%v): CPU %d out of range [0, %d]: %w", cpus, c, MaxCPU, ErrBadCPU)
		}
	}
	return nil, fmt.Errorf("ctdefer: Isolate(%v): %w", cpus, ErrNotSupported)
}

// Isolation records the threads Isolate moved. The nil *Isolation, which
// Isolate returns with an error, moved none: Restore does nothing.
type Isolation struct{}

// Threads returns how many threads Isolate moved.
func (iso *Isolation) Threads() int { return 0 }

// Restore gives every moved thread its previous mask.
func (iso *Isolation) Restore() error { return nil }
