//go:build !linux

package host_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
)

// Without Linux, Isolate checks the CPU numbers (an error naming the value)
// and otherwise reports ErrNotSupported.
func TestIsolateOtherBadCPU(t *testing.T) {
	for _, c := range []int{-1, 1 << 16} { // 65535 is the largest CPU number
		iso, err := host.Isolate(0, c)
		require.ErrorContains(t, err, "out of range", "Isolate(0, %d)", c)
		require.NotErrorIs(t, err, ctdefer.ErrNotSupported, "Isolate(0, %d): a bad number first", c)
		require.ErrorContains(t, err, "CPU", "Isolate(0, %d): names the value", c)
		require.Nil(t, iso, "Isolate(0, %d)", c)
	}
	iso, err := host.Isolate(0)
	require.ErrorIs(t, err, ctdefer.ErrNotSupported, "Isolate(0)")
	require.Nil(t, iso, "Isolate(0)")
}
