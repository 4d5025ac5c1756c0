package host

import (
	"errors"
	"fmt"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

var (
	// ErrNotAllowed: a CPU outside the process's allowed set (see
	// AllowedCPUs), or one the kernel refused to pin a thread to (a cgroup
	// cpuset change, hotplug). ctdefer.New and Domain.Claim return errors
	// wrapping it too.
	ErrNotAllowed = errors.New("CPU not in the process's allowed set")

	// ErrNoHeadroom: the pinned workers would hold every one of the
	// runtime's GOMAXPROCS Ps (see CheckHeadroom). Domain.Claim returns it
	// with Options.RequireHeadroom.
	ErrNoHeadroom = errors.New("no GOMAXPROCS headroom left for non-worker goroutines")
)

// checkCPU reports a CPU number no machine has: negative, or above
// percpu.MaxCPU (the bound ctdefer.MaxCPU has too).
func checkCPU(call string, cpu int) error {
	if cpu < 0 || cpu > percpu.MaxCPU {
		return fmt.Errorf("host: %s: CPU %d out of range [0, %d]", call, cpu, percpu.MaxCPU)
	}
	return nil
}
