package sysx

import (
	"fmt"
	"math"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex protocol. A futex is a 32-bit word in user memory plus a kernel wait
// queue keyed by its address. The word carries the state; the kernel only
// parks and wakes. The caller's side, for a worker that parks until some
// other goroutine changes the word:
//
//  1. Waiter: v := atomic load of *addr; if v says "go on", stop.
//  2. Waiter: FutexWait(addr, v, timeout). The kernel, holding the wait
//     queue's lock, re-reads *addr and parks the thread only if it still
//     equals v; otherwise it returns at once (EAGAIN, reported as nil).
//  3. Waker: atomic store (or CAS) of a new value to *addr, then
//     FutexWake(addr, n).
//  4. Waiter: back to 1, whatever FutexWait returned: a nil return may be
//     a spurious wake (EINTR, a FutexWake meant for an earlier value).
//
// The race this closes is the lost wake-up: the waker's store and wake
// falling between the waiter's load (1) and its sleep (2). Either the
// waker's store comes before the kernel's re-read in 2, and the waiter does
// not sleep; or it comes after, and then the waiter is already queued when
// the waker's FutexWake looks at the queue. The kernel states the ordering
// that makes this "either" exhaustive in kernel/futex/waitwake.c, "Basic
// futex operation and ordering guarantees": the waiter increments the
// bucket's waiter count and executes smp_mb() (A) before reading *addr, and
// futex_wake executes smp_mb() (B) before checking the waiter count, after
// the caller's store to *addr; (A) pairs with (B), so at least one side
// sees the other. Go atomics are sequentially consistent, so the waker's
// atomic store in step 3 is ordered before its system call; a plain store
// would race with the kernel's read and with other Go readers.
//
// Both calls use FUTEX_PRIVATE_FLAG: the word must not be shared with
// another process (the kernel then keys the queue by virtual address and
// skips the page-table walk that shared futexes need).

const (
	futexWait        = 0   // FUTEX_WAIT
	futexWake        = 1   // FUTEX_WAKE
	futexPrivateFlag = 128 // FUTEX_PRIVATE_FLAG

	futexWaitPrivate = futexWait | futexPrivateFlag // FUTEX_WAIT_PRIVATE
	futexWakePrivate = futexWake | futexPrivateFlag // FUTEX_WAKE_PRIVATE

	// maxFutexTimeout is the longest timeout passed to the kernel: a
	// struct timespec on 32-bit ports holds 32-bit seconds. Longer
	// timeouts are clamped to it (68 years).
	maxFutexTimeout = math.MaxInt32 * time.Second
)

// FutexWait parks the calling OS thread until another thread calls
// [FutexWake] on addr, provided *addr still holds val when the kernel looks
// (FUTEX_WAIT_PRIVATE). A negative timeout waits forever; otherwise the
// wait is relative, on CLOCK_MONOTONIC, clamped to 68 years.
//
// It returns nil when woken, when *addr != val on entry (EAGAIN), and when
// interrupted by a signal (EINTR): callers must re-check the word in a loop
// and treat nil as "look again", never as "the condition holds" (see the
// protocol at the top of futex_linux.go). It returns [ErrTimeout] itself
// (it allocates nothing) when the timeout expires, and an error wrapping
// the errno for anything else (EFAULT for a bad address).
//
// The goroutine blocks its OS thread inside the system call. That is the
// intent: a per-CPU worker locked to its thread parks that thread, and the
// CPU goes idle. The Go scheduler hands the goroutine's P to another thread
// meanwhile, so other goroutines keep running, but every goroutine parked
// here holds a thread. Do not use it for ordinary goroutine blocking.
//
// addr must point to memory that stays reachable while the call runs, and
// the word must be accessed by Go code only with sync/atomic.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(min(timeout, maxFutexTimeout)))
		ts = &t
	}
	// Syscall6, not RawSyscall6: this blocks, and the Go scheduler must
	// know so that it can hand off our P.
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	switch errno {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		// The bare sentinel: a timed wait that expires is routine for the
		// sleepers that cap their sleeps, and formatting an error here
		// would allocate on every such sleep.
		return ErrTimeout
	default:
		return fmt.Errorf("sysx: futex wait on %p for value %d: %w", addr, val, errnoError(errno))
	}
}

// FutexWake wakes up to n threads parked in [FutexWait] on addr
// (FUTEX_WAKE_PRIVATE) and returns how many it woke. n <= 0 wakes none and
// makes no system call (the kernel itself would wake one for n == 0);
// n above math.MaxInt32 is clamped to it, which wakes all.
//
// Store the new value to *addr (atomically) before calling it; see the
// protocol at the top of futex_linux.go. Waking is non-blocking.
func FutexWake(addr *uint32, n int) (woken int, err error) {
	if n <= 0 {
		return 0, nil
	}
	n = min(n, math.MaxInt32)
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate,
		uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("sysx: futex wake of %d on %p: %w", n, addr, errnoError(errno))
	}
	return int(r), nil
}
