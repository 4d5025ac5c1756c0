//go:build !linux

package host

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// ReadThreadSwitches reads the context-switch counters of the process's
// thread tid. It needs Linux (/proc): here it returns an error wrapping
// ctdefer.ErrNotSupported.
func ReadThreadSwitches(tid int) (ThreadSwitches, error) {
	return ThreadSwitches{}, fmt.Errorf("host: ReadThreadSwitches(%d): %w", tid, sysx.ErrNotSupported)
}
