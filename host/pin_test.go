package host_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// PinThread pins the locked thread to one CPU and restore puts its mask
// back; off Linux it reports ErrNotSupported.
func TestPinThread(t *testing.T) {
	cpus, _ := host.AllowedCPUs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := cpus[len(cpus)-1]
	prev, _ := sysx.ThreadAffinity()
	restore, err := host.PinThread(cpu)
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported)
		return
	}
	require.NoError(t, err, "PinThread(%d)", cpu)
	pinned, err := sysx.ThreadAffinity()
	require.NoError(t, err)
	require.Equal(t, []int{cpu}, pinned.List(), "the thread is pinned")
	on, err := sysx.CurrentCPU()
	require.NoError(t, err)
	require.Equal(t, cpu, on, "and runs there")
	require.NoError(t, restore(), "restore")
	after, err := sysx.ThreadAffinity()
	require.NoError(t, err)
	require.Equal(t, prev.List(), after.List(), "restored")
}

// A CPU the kernel refuses (4000: no such CPU online here) is ErrNotAllowed
// with the errno; a number no machine has is an error naming it.
// Mutant caught: pin-refusal-not-notallowed.
func TestPinThreadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, cpu := range []int{-1, 1 << 16} {
		_, err := host.PinThread(cpu)
		require.ErrorContains(t, err, "out of range", "PinThread(%d)", cpu)
	}
	_, err := host.PinThread(4000)
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported)
		return
	}
	require.ErrorIs(t, err, host.ErrNotAllowed, "PinThread(4000)")
	require.ErrorContains(t, err, "host: PinThread(4000)")
}
