package ctdefer

import (
	"context"
	"runtime/trace"

	"github.com/ctdefer/ctdefer/ctseq"
)

// traceLog records an owner-side event when Options.Trace is set and a trace
// is being recorded. Only slow paths call it.
func (c *CPU) traceLog(what string, work ctseq.Work) {
	if c.d.opts.Trace && trace.IsEnabled() {
		trace.Logf(context.Background(), "ctdefer", "cpu=%d %s work=%v", c.cpu, what, work)
	}
}

// traceIPI records an IPI post.
func (d *Domain) traceIPI(cpu int, w Work) {
	if d.opts.Trace && trace.IsEnabled() {
		trace.Logf(context.Background(), "ctdefer", "cpu=%d ipi-post work=%s", cpu, w.Name())
	}
}
