//go:build linux

package ctdefer

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// allowedCPUs returns the process's allowed CPU set (sched_getaffinity of
// the thread-group leader), which follows taskset and cgroup cpusets, plus
// the CPUs Isolate took out of it.
func allowedCPUs() ([]int, error) {
	set, err := sysx.ProcessAffinity()
	if err != nil {
		return nil, fmt.Errorf("ctdefer: reading the allowed CPU set: %w", err)
	}
	return withIsolated(set).List(), nil
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
