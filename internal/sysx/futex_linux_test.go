package sysx_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func TestFutexWaitValueMismatchReturnsAtOnce(t *testing.T) {
	var word atomic.Uint32
	word.Store(1)
	start := time.Now()
	err := sysx.FutexWait((*uint32)(unsafePointer(&word)), 0, 10*time.Second)
	require.NoError(t, err, "FutexWait with *addr != val is EAGAIN, reported as nil")
	require.Less(t, time.Since(start), time.Second, "FutexWait with *addr != val must not sleep")
}

// waitOutTimeout calls FutexWait until it reports something other than a
// spurious return (nil: EINTR, which Go's preemption signals cause, is
// allowed by FutexWait's contract), with the time left.
func waitOutTimeout(word *uint32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := sysx.FutexWait(word, 0, max(time.Until(deadline), 0))
		if err != nil {
			return err
		}
	}
}

func TestFutexWaitTimeout(t *testing.T) {
	var word uint32
	const timeout = 20 * time.Millisecond
	start := time.Now()
	err := waitOutTimeout(&word, timeout)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, sysx.ErrTimeout, "FutexWait with nobody to wake it")
	require.GreaterOrEqual(t, elapsed, timeout-time.Millisecond, "FutexWait returned before its timeout")
	require.Less(t, elapsed, 5*time.Second, "FutexWait overslept")
}

func TestFutexWaitZeroTimeout(t *testing.T) {
	var word uint32
	err := waitOutTimeout(&word, 0)
	require.ErrorIs(t, err, sysx.ErrTimeout, "a zero timeout expires at once")
}

// TestFutexWakeWakesParkedWaiter checks that FutexWake reports exactly the
// one waiter parked in the kernel. The word never changes, so the waiter can
// only leave the kernel by FutexWake (or a rare EINTR); until released is
// set it parks again, so the test wakes it until it reports back.
func TestFutexWakeWakesParkedWaiter(t *testing.T) {
	var word uint32 // stays 0: the waiter's val
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		var err error
		for !released.Load() { // load, pairs with the Store below
			if err = sysx.FutexWait(&word, 0, 10*time.Second); err != nil {
				break
			}
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	woken := 0
	for woken == 0 {
		require.True(t, time.Now().Before(deadline), "the waiter never parked in the kernel")
		var err error
		woken, err = sysx.FutexWake(&word, 1)
		require.NoError(t, err, "FutexWake")
		if woken == 0 {
			time.Sleep(time.Millisecond) // not parked yet
		}
	}
	require.Equal(t, 1, woken, "FutexWake must report the one parked waiter")
	released.Store(true) // store; the waiter may have re-parked before seeing it
	for {
		select {
		case err := <-done:
			require.NoError(t, err, "the woken waiter's FutexWait")
			n, err := sysx.FutexWake(&word, 1)
			require.NoError(t, err, "FutexWake with no waiter")
			require.Zero(t, n, "nobody is parked any more")
			return
		case <-time.After(time.Millisecond):
			require.True(t, time.Now().Before(deadline), "woken waiter did not return")
			_, err := sysx.FutexWake(&word, 1)
			require.NoError(t, err, "FutexWake to release a re-parked waiter")
		}
	}
}

// TestFutexNoLostWakeup runs the store-then-wake protocol of futex_linux.go
// many times; a lost wake-up leaves a waiter asleep and fails on timeout.
func TestFutexNoLostWakeup(t *testing.T) {
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	for i := range rounds {
		var word atomic.Uint32
		addr := (*uint32)(unsafePointer(&word))
		done := make(chan error, 1)
		go func() {
			for word.Load() == 0 { // load-acquire, pairs with the Store below
				if err := sysx.FutexWait(addr, 0, 5*time.Second); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		word.Store(1) // store-release, pairs with the waiter's Load
		_, err := sysx.FutexWake(addr, 1)
		require.NoError(t, err, "FutexWake round %d", i)
		require.NoError(t, <-done, "waiter of round %d lost its wake-up", i)
	}
}

func TestFutexWakeNonPositiveCount(t *testing.T) {
	var word uint32
	for _, n := range []int{0, -1} {
		woken, err := sysx.FutexWake(&word, n)
		require.NoError(t, err, "FutexWake(%d)", n)
		require.Zero(t, woken, "FutexWake(%d)", n)
	}
}

// A wait that reaches its timeout allocates nothing: waiters cap their
// sleeps and meet the timeout routinely (grace's QSBR waiter, every
// millisecond). Mutant caught: futex-timeout-allocates.
func TestFutexWaitTimeoutAllocatesNothing(t *testing.T) {
	var word uint32
	allocs := testing.AllocsPerRun(20, func() {
		if err := waitOutTimeout(&word, time.Microsecond); !errors.Is(err, sysx.ErrTimeout) {
			t.Fatalf("FutexWait with nobody to wake it: %v", err)
		}
	})
	require.Zero(t, allocs, "allocations per timed-out FutexWait")
}
