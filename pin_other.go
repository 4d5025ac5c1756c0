//go:build !linux

package ctdefer

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func allowedCPUs() ([]int, error) {
	return nil, fmt.Errorf("ctdefer: reading the allowed CPU set: %w (use Options.Unpinned)", ErrNotSupported)
}

func pinThread(cpu int) (func() error, error) {
	return nil, fmt.Errorf("ctdefer: pinning to CPU %d: %w (use Options.Unpinned)", cpu, ErrNotSupported)
}

func currentCPU() (int, error) { return sysx.CurrentCPU() }

func gettid() int { return sysx.Gettid() }
