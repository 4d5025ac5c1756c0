package sysx_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// ThreadStart reads field 22 of the thread's stat, as a plain parse of the
// file does, and allocates nothing doing it; a thread that does not exist
// is os.ErrNotExist.
// Mutant caught: threadstart-field-off-by-one.
func TestThreadStart(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := sysx.Gettid()
	got, err := sysx.ThreadStart(tid)
	require.NoError(t, err)
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	want, err := strconv.ParseUint(f[19], 10, 64)
	require.NoError(t, err)
	require.Equal(t, want, got, "field 22 of %q", b)
	require.True(t, sysx.ThreadAlive(tid, got))
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := sysx.ThreadStart(tid); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "allocations per ThreadStart")
	_, err = sysx.ThreadStart(1 << 30)
	require.True(t, errors.Is(err, os.ErrNotExist), "a thread that does not exist: %v", err)
	require.False(t, sysx.ThreadAlive(1<<30, got))
}
