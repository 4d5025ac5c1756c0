//go:build !linux

package host

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Isolate moves every thread of the process off the given CPUs. It needs
// Linux: here it returns an error wrapping ctdefer.ErrNotSupported. The CPU
// numbers are checked first, as on Linux: a negative number or one above
// 65535 is a programming error on every platform, reported naming it.
// (Whether a CPU is in the process's allowed set cannot be told here: there
// is no such set.)
func Isolate(cpus ...int) (*Isolation, error) {
	for _, c := range cpus {
		if err := checkCPU(fmt.Sprintf("Isolate(%v)", cpus), c); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("host: Isolate(%v): %w", cpus, sysx.ErrNotSupported)
}

// Isolation records the threads Isolate moved. The nil *Isolation, which
// Isolate returns with an error, moved none: Restore does nothing.
type Isolation struct{}

// Threads returns how many threads Isolate moved.
func (iso *Isolation) Threads() int { return 0 }

// Restore gives every moved thread its previous mask.
func (iso *Isolation) Restore() error { return nil }
