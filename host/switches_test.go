package host_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// A locked thread that sleeps gives up its CPU: its voluntary count grows,
// read through tid 0 (the calling thread) and through its thread id alike.
// Off Linux both report ErrNotSupported.
func TestReadThreadSwitches(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := sysx.Gettid()
	before, err := host.ReadThreadSwitches(0)
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "ReadThreadSwitches(0)")
		_, err = host.ReadThreadSwitches(tid)
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "ReadThreadSwitches(tid)")
		return
	}
	require.NoError(t, err, "ReadThreadSwitches(0)")
	for range 3 {
		time.Sleep(time.Millisecond)
	}
	after, err := host.ReadThreadSwitches(tid)
	require.NoError(t, err, "ReadThreadSwitches(%d), this thread", tid)
	require.Greater(t, after.Voluntary, before.Voluntary, "three sleeps give the CPU up at least once")
	require.GreaterOrEqual(t, after.Involuntary, before.Involuntary, "counters never go back")

	_, err = host.ReadThreadSwitches(-1)
	require.ErrorContains(t, err, "-1", "a negative thread id is named")
	_, err = host.ReadThreadSwitches(1 << 30)
	require.Error(t, err, "no such thread in this process")
}
