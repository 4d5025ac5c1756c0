package grace

import (
	"context"
	"log/slog"
	"time"

	"github.com/ctdefer/ctdefer/internal/tracex"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

// await calls done until it reports true or ctx ends, and returns nil or
// ctx's error (percpu.Waiter, which honours ctx in its spin and its sleeps).
// It spins for Options.SpinWait, yielding the processor between rounds:
// waiters are ordinary goroutines, and the CPUs they wait for may need a P
// to make progress. Then it sleeps, from a microsecond to a millisecond at a
// time. Callers check done once first.
func (g *Domain) await(ctx context.Context, done func() bool) error {
	return percpu.Waiter{Spin: g.spin, Yield: true}.Until(ctx, done)
}

// logger implements engine.
func (g *Domain) logger() *slog.Logger { return g.log }

// waitFor implements engine: the wait of Wait and Synchronize, without the
// error's decoration.
func (g *Domain) waitFor(ctx context.Context, t Token) error {
	return g.await(ctx, func() bool { return g.Poll(t) })
}

// waitOn is Synchronize's and Wait's wait, for either flavour: a nil ctx is
// refused, a grace period already over returns at once, and a wait that
// ctx ends becomes the flavour's *StallError.
func waitOn(e engine, ctx context.Context, op string, t Token) error {
	if ctx == nil {
		return nilContext(op)
	}
	if e.Poll(t) {
		return nil
	}
	ctx, end := tracex.Task(ctx, taskName(op)) // one check unless a trace is recording
	defer end()
	start := time.Now()
	if err := e.waitFor(ctx, t); err != nil {
		err = e.stallError(op, time.Since(start), err)
		logStall(e.logger(), op, err)
		return err
	}
	return nil
}

// logStall is Options.Logger's record of a wait that its context ended:
// Warn, with the *StallError naming the CPUs. Every wait that returns a
// *StallError calls it (Synchronize, Wait, Barrier, ExpeditedBarrier).
func logStall(l *slog.Logger, op string, err error) {
	if l != nil {
		l.Warn("grace: wait ended by its context", "op", op, "err", err)
	}
}

// taskName is the trace task of a wait: constant strings, so that naming
// the task allocates nothing.
func taskName(op string) string {
	switch op {
	case "Synchronize":
		return "grace.Synchronize"
	case "Wait":
		return "grace.Wait"
	}
	return "grace.wait"
}
