package sysx_test

import (
	"errors"
	"os"
	"runtime"
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
		time.Sleep(time.Millisecond) // the locked thread parks: a voluntary switch each time
	}
	v1, _, err := sysx.ThreadSwitches(tid)
	require.NoError(t, err)
	require.GreaterOrEqual(t, v1-v0, uint64(5), "five sleeps of a locked thread")

	_, _, err = sysx.ThreadSwitches(1 << 30)
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}
