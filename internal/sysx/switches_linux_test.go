package sysx_test

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// A thread's voluntary switches count its sleeps: a locked thread that
// sleeps n times has at least n more. An unknown thread is an error that
// wraps os.ErrNotExist.
func TestThreadSwitches(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := sysx.Gettid()
	v0, _, err := sysx.ThreadSwitches(tid)
	require.NoError(t, err)
	for range 5 {
		threadSleep(t)
	}
	v1, _, err := sysx.ThreadSwitches(tid)
	require.NoError(t, err)
	require.GreaterOrEqual(t, v1-v0, uint64(5), "five sleeps of a locked thread")

	_, _, err = sysx.ThreadSwitches(1 << 30)
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

// An open ThreadStatus re-reads its counters without allocating; the
// parser finds a key and refuses a missing one.
func TestThreadStatusRereads(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ts, err := sysx.OpenThreadStatus(sysx.Gettid())
	require.NoError(t, err)
	defer ts.Close()
	v0, _, err := ts.Switches()
	require.NoError(t, err)
	threadSleep(t)
	v1, _, err := ts.Switches()
	require.NoError(t, err)
	require.Greater(t, v1, v0, "after a sleep")
	require.Zero(t, testing.AllocsPerRun(10, func() { _, _, _ = ts.Switches() }), "Switches allocates")
}

// threadSleep blocks the calling thread in the kernel for a millisecond:
// a nanosleep system call, which always schedules the thread out, so it is
// one voluntary context switch of this thread. (A time.Sleep parks the
// goroutine instead, and its thread may find the wake-up already there and
// not switch at all.)
func threadSleep(t *testing.T) {
	t.Helper()
	ts := syscall.NsecToTimespec(int64(time.Millisecond))
	for {
		err := syscall.Nanosleep(&ts, &ts)
		if err != syscall.EINTR {
			require.NoError(t, err, "nanosleep")
			return
		}
	}
}
