package host_test

import (
	"context"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
)

// AllowedCPUs is New's default set, sorted, a fresh copy each call; off
// Linux it is 0 .. NumCPU-1, with an error wrapping ErrNotSupported.
// Mutant caught: allowed-shared-slice.
func TestAllowedCPUs(t *testing.T) {
	cpus, err := host.AllowedCPUs()
	require.NotEmpty(t, cpus)
	require.True(t, slices.IsSorted(cpus), "%v", cpus)
	if runtime.GOOS == "linux" {
		require.NoError(t, err)
		d, err := ctdefer.New(ctdefer.Options{})
		require.NoError(t, err)
		require.Equal(t, d.CPUs(), cpus, "what New uses by default")
		require.NoError(t, d.Close(context.Background()))
	} else {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported)
		require.Len(t, cpus, runtime.NumCPU(), "the CPUs of an unpinned Domain")
	}
	cpus[0] = -1
	again, _ := host.AllowedCPUs()
	require.NotEqual(t, -1, again[0], "a fresh copy each call")
}
