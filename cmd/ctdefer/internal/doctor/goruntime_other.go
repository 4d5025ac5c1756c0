//go:build !linux

package doctor

import (
	"fmt"
	"time"

	"github.com/ctdefer/ctdefer"
)

// measureRuntime needs Linux: pinning and the thread's counters.
func measureRuntime(cpu int, d, threshold time.Duration, alloc bool) (RuntimeResult, error) {
	return RuntimeResult{}, fmt.Errorf("the runtime noise test: %w", ctdefer.ErrNotSupported)
}
