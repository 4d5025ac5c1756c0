//go:build !linux

package host

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func allowedSet() (sysx.CPUSet, error) {
	return sysx.CPUSet{}, fmt.Errorf("host: reading the allowed CPU set: %w", sysx.ErrNotSupported)
}

// PinThread sets the affinity of the calling thread to exactly cpu. It
// needs Linux: here it returns an error wrapping ctdefer.ErrNotSupported
// (after checking the number, as on Linux).
func PinThread(cpu int) (restore func() error, err error) {
	if err := checkCPU("PinThread", cpu); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("host: PinThread(%d): %w", cpu, sysx.ErrNotSupported)
}
