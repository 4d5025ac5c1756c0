package ctdefer_test

import (
	"bytes"
	"runtime/trace"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// With Options.Trace and a trace being recorded, IPIs and drains show up as
// log events of category "ctdefer" (go tool trace lists them).
func TestTraceAnnotations(t *testing.T) {
	opts := testOptions()
	opts.Trace = true
	cpus, d, cnt, w, o := countingOwner(t, opts)
	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	requireDefer(t, d, cpus[0], w) // an IPI: the CPU is in the kernel
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	requireDefer(t, d, cpus[0], w) // deferred
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	trace.Stop()
	require.Equal(t, 2, cnt.get(cpus[0]))
	for _, ev := range []string{"ipi-post work=count", "ipi-handle work=", "drain work="} {
		require.True(t, bytes.Contains(buf.Bytes(), []byte(ev)), "the trace holds %q events", ev)
	}
}
