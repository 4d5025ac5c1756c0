//go:build !linux

package sysx

import (
	"fmt"
	"time"
)

// ProcessAffinity is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func ProcessAffinity() (CPUSet, error) {
	return CPUSet{}, fmt.Errorf("sysx: sched_getaffinity: %w", ErrNotSupported)
}

// ThreadAffinity is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func ThreadAffinity() (CPUSet, error) {
	return CPUSet{}, fmt.Errorf("sysx: sched_getaffinity: %w", ErrNotSupported)
}

// SetThreadAffinity is not supported on this platform: it returns an error
// wrapping [ErrNotSupported] and naming s.
func SetThreadAffinity(s CPUSet) error {
	return fmt.Errorf("sysx: sched_setaffinity to CPUs %q: %w", s, ErrNotSupported)
}

// SetTaskAffinity is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func SetTaskAffinity(tid int, s CPUSet) error {
	return fmt.Errorf("sysx: sched_setaffinity of thread %d to CPUs %q: %w", tid, s, ErrNotSupported)
}

// TaskAffinity is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func TaskAffinity(tid int) (CPUSet, error) {
	return CPUSet{}, fmt.Errorf("sysx: sched_getaffinity of thread %d: %w", tid, ErrNotSupported)
}

// Gettid returns -1 on this platform: there is no portable thread ID to
// report without cgo.
func Gettid() int {
	return -1
}

// CurrentCPU is not supported on this platform: it returns -1 and an error
// wrapping [ErrNotSupported].
func CurrentCPU() (int, error) {
	return -1, fmt.Errorf("sysx: getcpu: %w", ErrNotSupported)
}

// FutexWait is not supported on this platform: it returns an error
// wrapping [ErrNotSupported] at once, without waiting.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	return fmt.Errorf("sysx: futex wait on %p for value %d: %w", addr, val, ErrNotSupported)
}

// FutexWake is not supported on this platform: it returns an error
// wrapping [ErrNotSupported].
func FutexWake(addr *uint32, n int) (woken int, err error) {
	return 0, fmt.Errorf("sysx: futex wake of %d on %p: %w", n, addr, ErrNotSupported)
}

// Membarrier is not supported on this platform: it returns an error
// wrapping [ErrNotSupported] and naming the command.
func Membarrier(cmd MembarrierCmd, flags MembarrierFlag, cpuID int) (int, error) {
	return 0, fmt.Errorf("sysx: membarrier(%v, flags %#x, cpu %d): %w", cmd, int(flags), cpuID, ErrNotSupported)
}
