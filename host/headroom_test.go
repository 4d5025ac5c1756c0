package host_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/host"
)

// Workers below GOMAXPROCS leave headroom; as many as GOMAXPROCS, or more,
// do not, and the error gives both numbers.
// Mutant caught: headroom-never-short.
func TestCheckHeadroom(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	require.NoError(t, host.CheckHeadroom(0))
	require.NoError(t, host.CheckHeadroom(3), "3 workers leave one of 4 Ps")
	for _, n := range []int{4, 5} {
		err := host.CheckHeadroom(n)
		require.ErrorIs(t, err, host.ErrNoHeadroom, "%d workers, 4 Ps", n)
		require.ErrorContains(t, err, "GOMAXPROCS 4")
	}
	runtime.GOMAXPROCS(8)
	require.NoError(t, host.CheckHeadroom(5), "GOMAXPROCS is read at each call")
}
