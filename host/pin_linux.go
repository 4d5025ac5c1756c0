//go:build linux

package host

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// startAffinity is the process's allowed CPU set as it started:
// sched_getaffinity of the thread-group leader, read once, while the
// package is initialised. That is what taskset, the cgroup cpuset and the
// parent process gave it, and it is read before any code of this package or
// of ctdefer (which imports it) can pin a thread: initialisation runs
// before main, and before the init functions of every package that imports
// this one. Reading the leader's mask later would see the pins ctdefer
// makes itself (a worker that happens to run on the main thread pins the
// leader when it claims its CPU) and the masks Isolate narrows. Read-only
// after initialisation (a CPUSet shares its bits: never modify it).
var startAffinity, startAffinityErr = sysx.ProcessAffinity()

// allowedSet returns the allowed CPU set of AllowedCPUs and Isolate: the
// process's affinity at start-up (startAffinity). The result is shared:
// read only.
func allowedSet() (sysx.CPUSet, error) {
	if startAffinityErr != nil {
		return sysx.CPUSet{}, fmt.Errorf("host: reading the allowed CPU set: %w", startAffinityErr)
	}
	return startAffinity, nil
}

// PinThread sets the affinity of the calling thread to exactly cpu and
// returns a function that restores the thread's previous mask. The caller
// must have locked its goroutine to the thread (runtime.LockOSThread), and
// keep it locked until it calls restore: the mask belongs to the thread,
// not to the goroutine.
//
// Errors: [ErrNotAllowed] when the kernel refuses the mask (the CPU is
// outside the process's cgroup cpuset, offline, or beyond the possible
// CPUs); any other failure wraps the errno. A negative cpu or one above
// 65535 is an error naming it. Off Linux the error wraps
// ctdefer.ErrNotSupported.
func PinThread(cpu int) (restore func() error, err error) {
	if err := checkCPU("PinThread", cpu); err != nil {
		return nil, err
	}
	prev, err := sysx.ThreadAffinity()
	if err != nil {
		return nil, fmt.Errorf("host: PinThread(%d): reading the thread's affinity: %w", cpu, err)
	}
	if err := sysx.SetThreadAffinity(sysx.CPUSetOf(cpu)); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			// The kernel refuses a mask with no allowed, online CPU.
			return nil, fmt.Errorf("host: PinThread(%d): %w: %w", cpu, ErrNotAllowed, err)
		}
		return nil, fmt.Errorf("host: PinThread(%d): %w", cpu, err)
	}
	return func() error {
		if err := sysx.SetThreadAffinity(prev); err != nil {
			return fmt.Errorf("host: PinThread(%d): restoring the thread's affinity %s: %w", cpu, FormatCPUList(prev.List()), err)
		}
		return nil
	}, nil
}
