package host_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/host"
)

// Workers below GOMAXPROCS leave headroom; as many as GOMAXPROCS, or more,
// do not, and the error gives both numbers and the fix.
// Mutant caught: headroom-never-short.
func TestCheckHeadroom(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	require.NoError(t, host.CheckHeadroom(0))
	require.NoError(t, host.CheckHeadroom(3), "3 workers leave one of 4 Ps")
	for _, n := range []int{4, 5} {
		err := host.CheckHeadroom(n)
		require.ErrorIs(t, err, host.ErrNoHeadroom, "%d workers, 4 Ps", n)
		require.ErrorContains(t, err, fmt.Sprintf("%d claimed CPUs with GOMAXPROCS 4", n), "the claims and GOMAXPROCS")
		require.ErrorContains(t, err, fmt.Sprintf("set GOMAXPROCS to at least %d", n+1), "and the fix")
	}
	runtime.GOMAXPROCS(8)
	require.NoError(t, host.CheckHeadroom(5), "GOMAXPROCS is read at each call")
}
