package ctdefer

import (
	"context"
	"runtime/trace"

	"github.com/ctdefer/ctdefer/ctseq"
)

// traceLog records an owner-side event when a trace is being recorded. The
// owner's paths call it only when Options.Trace is set (CPU.trace), so that
// an untraced entry pays one load of a field it already has in cache.
func (c *CPU) traceLog(what string, work ctseq.Work) {
	if trace.IsEnabled() {
		trace.Logf(context.Background(), "ctdefer", "cpu=%d %s work=%v", c.cpu, what, work)
	}
}

// traceIPI records an IPI post.
func (d *Domain) traceIPI(cpu int, w Work) {
	if d.opts.Trace && trace.IsEnabled() {
		trace.Logf(context.Background(), "ctdefer", "cpu=%d ipi-post work=%s", cpu, w.String())
	}
}
