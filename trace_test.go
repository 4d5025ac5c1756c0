package ctdefer_test

import (
	"bytes"
	"context"
	"runtime/trace"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// With Options.Trace and a trace being recorded, IPIs and drains show up as
// log events of category "ctdefer" (go tool trace lists them).
// Mutants caught: none.
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

// While a trace is being recorded, DeferWait, its wait, DeferWaitAll and
// Close are tasks and regions that go tool trace shows, without
// Options.Trace.
// Mutants caught: trace-no-close-task, trace-no-deferwait-task.
func TestTraceTasks(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 0) // in the kernel: a wait that cannot end before the deadline
	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	require.ErrorIs(t, d.DeferWait(ctxWithin(t, 0), 0, w), context.DeadlineExceeded)
	_, err = d.DeferWaitAll(ctxWithin(t, 0), w)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	o.stop()
	require.NoError(t, d.Close(context.Background()))
	trace.Stop()
	for _, name := range []string{"ctdefer.DeferWait", "ctdefer.DeferWait: wait", "ctdefer.DeferWaitAll",
		"ctdefer.DeferWaitAll: wait", "ctdefer.Close", "ctdefer.Close: wait for workers", "ctdefer.Close: close mailboxes"} {
		// The trace's string table holds each string once, after its
		// length (a uvarint: one byte here), so that a name is not
		// found inside a longer one.
		entry := append([]byte{byte(len(name))}, name...)
		require.True(t, bytes.Contains(buf.Bytes(), entry), "the trace holds %q", name)
	}
}
