package main

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// TestMmapServeNoReadOfUnmappedRegion runs the server for a short while
// and checks that no reader read a page after its munmap (faults) or after
// its reuse for another file (torn), while the writer replaced files and
// grace periods completed.
func TestMmapServeNoReadOfUnmappedRegion(t *testing.T) {
	d := time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	rep, err := run(config{duration: d, readers: 32, slots: 4, size: 64 << 10})
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported)
		return
	}
	require.NoError(t, err)
	rep.print(os.Stdout)
	require.Zero(t, rep.faults, "reads of an unmapped page")
	require.Zero(t, rep.torn, "reads of a page reused for another file")
	require.Positive(t, rep.reads, "no read")
	require.Positive(t, rep.replaced, "no file replaced")
	require.Equal(t, rep.replaced, rep.unmapped, "every old mapping is unmapped by Close")
	require.Positive(t, rep.stats.GracePeriods, "no grace period")
}
