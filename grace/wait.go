package grace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/tracex"
)

// await calls done until it reports true or ctx ends, and returns nil or
// ctx's error (percpu.Waiter, which honours ctx in its spin and its sleeps).
// It spins for Options.SpinWait, yielding the processor between rounds:
// waiters are ordinary goroutines, and the CPUs they wait for may need a P
// to make progress. Then it sleeps, from a microsecond to a millisecond at a
// time, calling slow (if not nil) before each sleep of the full millisecond
// with their count; if slow reports true, done is checked again at once.
// Callers check done once first.
func (g *stretch) await(ctx context.Context, done func() bool, slow func(n int) bool) error {
	return percpu.Waiter{Spin: g.spin, Yield: true, LongSleep: slow}.Until(ctx, done)
}

// logger implements engine.
func (g *stretch) logger() *slog.Logger { return g.log }

// waitFor implements engine: the wait of Wait and Synchronize, without the
// error's decoration. It refuses a wait for the caller's own CPU
// (selfCPU, waitsForSelf), at once or once the grace period records that
// CPU, and its slow path takes back laggards whose owner exited (reapHeld).
func (g *stretch) waitFor(ctx context.Context, t Token) error {
	self := g.selfCPU()
	if self >= 0 && g.waitsForSelf(self, t) {
		return g.selfWaitError(self)
	}
	stuck := false
	err := g.await(ctx, func() bool { return stuck || g.Poll(t) }, func(n int) bool {
		// The grace period in progress may have recorded the caller's
		// CPU since the check above (its driver was still snapshotting).
		if self >= 0 && g.waitsForSelf(self, t) {
			stuck = true
			return true
		}
		return g.reapHeld(n)
	})
	if stuck {
		return g.selfWaitError(self)
	}
	return err
}

// reapEvery: a waiter looks for exited owners among the CPUs it waits for
// every reapEvery sleeps of the full millisecond, with a garbage collection
// every reapEvery of those looks where only one can tell (ctdefer's
// the core's ReapExited; ctdefer's DeferWait does the same).
const reapEvery = 16

// reapHeld looks, at the n-th long sleep of a wait, for the CPUs holding
// the grace period in progress up whose owner exited without Release, and
// takes them back: the next scan finds them released. It reports whether it
// took any back.
func (g *stretch) reapHeld(n int) bool {
	if n%reapEvery != 0 {
		return false
	}
	s := g.seqNow() // load: the grace period in progress, if any
	reaped := false
	for i := range g.per {
		// load: diagnostics-grade; a stale answer only delays the look.
		if s&1 != 0 && g.per[i].heldGP.Load() == s && g.reap(n, i) {
			reaped = true
		}
	}
	return reaped
}

// reap takes CPU index i back if its owner exited (ctdefer's ReapExited,
// a system call), logs it, and reports whether it did. n is the count of
// long sleeps of the wait that asks.
func (g *stretch) reap(n, i int) bool {
	cpu := g.cpus.List()[i]
	if !g.v.ReapExited(cpu, n%(reapEvery*reapEvery) == 0) {
		return false
	}
	logReaped(g.log, cpu)
	return true
}

// logReaped is the Logger's record of a CPU a wait took back.
func logReaped(l *slog.Logger, cpu int) {
	if l != nil {
		l.Warn("grace: CPU taken back from an owner that exited without Release: it no longer holds the wait up", "cpu", cpu)
	}
}

// selfCPU returns the index of the caller's CPU if the caller is the owner
// of a CPU of the Domain (or a handler running on its thread) inside a
// kernel stretch, and -1 otherwise: a wait that needs that CPU would wait
// for its caller. It costs a system call and a lookup (ctdefer's
// CallerCPU): slow paths only.
func (g *stretch) selfCPU() int {
	cpu, ok := g.v.CallerCPU()
	if !ok {
		return -1
	}
	// load (Observe): the caller's own word; it stays in this state while
	// the caller waits, since only the caller's transitions change it.
	if snap, claimed := g.v.Observe(cpu); !claimed || snap.State() != ctseq.Kernel {
		return -1 // user mode: quiescent, waits do not need it
	}
	return g.cpus.Of(cpu)
}

// waitsForSelf reports whether the wait for t needs CPU index i, whose
// owner is the caller, inside a kernel stretch that lasts as long as the
// wait: the grace period that ends t has not begun (its snapshot will find
// i in the kernel and wait for a transition that only the caller can make),
// or it has begun and holds i.
func (g *stretch) waitsForSelf(i int, t Token) bool {
	s := g.seqNow() // load: pairs with the driver's stores of ctl
	if s >= t.seq {
		return false // complete
	}
	if s&1 == 0 || t.seq > s+1 {
		return true // t needs a grace period that has not begun
	}
	return g.per[i].heldGP.Load() == s // load: pairs with begin's store
}

// selfWaitError is the error of a wait by the owner of CPU index i for its
// own CPU.
func (g *stretch) selfWaitError(i int) error {
	return fmt.Errorf("called by the owner of CPU %d (or a handler running on its thread) inside a kernel stretch, "+
		"which the wait would wait for (call it in user mode, or use Start and Poll): %w", g.cpus.List()[i], ctdefer.ErrWouldDeadlock)
}

// waitOn is Synchronize's and Wait's wait, for every flavour: a nil ctx is
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
		if errors.Is(err, ctdefer.ErrWouldDeadlock) {
			return fmt.Errorf("grace: %s: %w", op, err)
		}
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
