package ctdefer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// The hot paths allocate nothing: Defer to a CPU in user mode, KernelEnter
// with and without deferred work, UserEnter, Poll.
func TestZeroAllocHotPaths(t *testing.T) {
	cpus := twoCPUs(t)
	opts := testOptions()
	opts.Debug = false
	d := newDomain(t, opts)
	w, err := d.Register("nop", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	o.do(func(c *ctdefer.CPU) {
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.UserEnter()
			_, _ = d.Defer(cpus[0], w)
			c.KernelEnter()
		}), "UserEnter + Defer (deferred) + KernelEnter with work")
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.UserEnter()
			c.Poll()
			c.KernelEnter()
		}), "UserEnter + Poll + KernelEnter without work")
	})
	st := cpuStats(d, cpus[0])
	require.GreaterOrEqual(t, st.Deferred, uint64(1000), "the deferred path was exercised: %v", st)
	require.Zero(t, st.IPIs, "no IPI in the measured paths: %v", st)
}
