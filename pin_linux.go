//go:build linux

package ctdefer

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// startAffinity is the process's allowed CPU set as it started:
// sched_getaffinity of the thread-group leader, read once, while the
// package is initialised. That is what taskset, the cgroup cpuset and the
// parent process gave it, and it is read before any code of the package
// can pin a thread: initialisation runs before main, and before the init
// functions of every package that imports this one. Reading the leader's
// mask later would see the pins the package makes itself (a worker that
// happens to run on the main thread pins the leader when it claims its
// CPU) and the masks Isolate narrows. Read-only after initialisation (a
// CPUSet shares its bits: never modify it).
var startAffinity, startAffinityErr = sysx.ProcessAffinity()

// allowedSet returns the allowed CPU set of New, Claim and Isolate: the
// process's affinity at start-up (startAffinity). Later changes of the
// process's mask, whether by taskset -p, a cgroup, Isolate or a pin of the
// main thread, do not change it; a CPU taken away since then makes Claim
// fail with ErrCPUNotAllowed when it pins. The result is shared: read only.
func allowedSet() (sysx.CPUSet, error) {
	if startAffinityErr != nil {
		return sysx.CPUSet{}, fmt.Errorf("ctdefer: reading the allowed CPU set: %w", startAffinityErr)
	}
	return startAffinity, nil
}

// allowedCPUs returns allowedSet as a list, ascending.
func allowedCPUs() ([]int, error) {
	set, err := allowedSet()
	if err != nil {
		return nil, err
	}
	return set.List(), nil
}

// pinThread pins the calling (already locked) thread to cpu and returns a
// function that restores the thread's previous mask.
func pinThread(cpu int) (restore func() error, err error) {
	prev, err := sysx.ThreadAffinity()
	if err != nil {
		return nil, fmt.Errorf("ctdefer: CPU %d: reading thread affinity: %w: %w", cpu, ErrAffinity, err)
	}
	if err := sysx.SetThreadAffinity(sysx.CPUSetOf(cpu)); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			// The kernel refuses a mask with no allowed, online CPU.
			return nil, fmt.Errorf("ctdefer: CPU %d: %w: %w", cpu, ErrCPUNotAllowed, err)
		}
		return nil, fmt.Errorf("ctdefer: CPU %d: %w: %w", cpu, ErrAffinity, err)
	}
	return func() error {
		if err := sysx.SetThreadAffinity(prev); err != nil {
			return fmt.Errorf("ctdefer: CPU %d: restoring thread affinity %v: %w: %w", cpu, prev, ErrAffinity, err)
		}
		return nil
	}, nil
}

// currentCPU returns the CPU the calling thread runs on.
func currentCPU() (int, error) { return sysx.CurrentCPU() }

func gettid() int { return sysx.Gettid() }
