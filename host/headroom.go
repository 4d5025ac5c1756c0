package host

import (
	"fmt"
	"runtime"
)

// CheckHeadroom reports whether workers pinned workers leave a P for the
// rest of the process. A worker locked to its thread holds one of the
// runtime's GOMAXPROCS Ps while it runs (spinning in its hot loop, polling
// in the kernel); with as many workers as Ps, every other goroutine, the
// controller that sends the work included, runs only when a worker blocks
// or the scheduler preempts it (a controller measured 66 iterations in 2 s
// against 1,764 with two Ps to spare). The rule: keep the workers of the
// process below runtime.GOMAXPROCS(0).
//
// CheckHeadroom returns nil when workers < runtime.GOMAXPROCS(0), read at
// each call, and otherwise an error wrapping [ErrNoHeadroom] that gives
// both numbers and the fix. ctdefer's Claim calls it with the CPUs claimed in the
// process, across Domains.
func CheckHeadroom(workers int) error {
	procs := runtime.GOMAXPROCS(0)
	if workers >= procs {
		return fmt.Errorf("host: %d claimed CPUs with GOMAXPROCS %d leave no P for the program's other goroutines (senders included); "+
			"set GOMAXPROCS to at least %d (runtime.GOMAXPROCS, or the GOMAXPROCS environment variable) or claim fewer CPUs: %w",
			workers, procs, workers+1, ErrNoHeadroom)
	}
	return nil
}
