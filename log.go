package ctdefer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Logging (Options.Logger). Every helper here is called on a slow path
// only (a failed or stalled wait, a reclaimed CPU, a Claim without
// headroom, a misuse, Close, the end of a Go worker), never while holding
// the Domain's locks, and returns after one nil check when there is no
// Logger. Messages start with "ctdefer: "; attributes use the keys "cpu",
// "work", "method", "state", "thread", "err".

// logNoHeadroom reports a Claim that reached GOMAXPROCS (headroom.go).
func (d *Domain) logNoHeadroom(cpu, claimed, procs int, refused bool) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	msg := "ctdefer: Claim leaves no GOMAXPROCS headroom: other goroutines wait for a worker to block"
	if refused {
		msg = "ctdefer: Claim refused: it would leave no GOMAXPROCS headroom (Options.RequireHeadroom)"
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, msg,
		slog.Int("cpu", cpu), slog.Int("claimed", claimed), slog.Int("gomaxprocs", procs))
}

// logOwnerGone reports an exited owner whose CPU was taken back (owner.md).
func (d *Domain) logOwnerGone(cpu, tid int, handed ctseq.Work) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelWarn,
		"ctdefer: CPU owner exited without Release; CPU taken back, its pending work handed back",
		slog.Int("cpu", cpu), slog.Int("thread", tid), slog.String("work", d.workNames(handed)))
}

// logWait reports a wait (DeferWait, Send, IPI, DeferWaitAll) still waiting
// after IPITimeout (stalled) or ended by err.
func (d *Domain) logWait(method string, s *slot, w Work, how string, before ctseq.Snapshot, waited time.Duration, err error) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	level, msg := slog.LevelWarn, "ctdefer: work not run yet: CPU stalled?"
	switch {
	case errors.Is(err, context.Canceled):
		level, msg = slog.LevelDebug, "ctdefer: wait canceled before the work ran"
	case err != nil:
		msg = "ctdefer: wait failed: work not run in time"
	}
	now := s.word.Snapshot()
	attrs := []slog.Attr{
		slog.String("method", method), slog.Int("cpu", s.cpu), slog.String("work", w.String()),
		slog.String("delivery", how), slog.String("state", now.State().String()),
		slog.Uint64("transitions", (now.Seq()-before.Seq())&ctseq.SeqMask),
		slog.Bool("claimed", s.claimed.Load()),  // load: diagnostics
		slog.Int64("thread", s.ownerTid.Load()), // load: diagnostics
		slog.Duration("waited", waited),
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	l.LogAttrs(context.Background(), level, msg, attrs...)
}

// logMisuse reports a misuse found by the Debug checks, before the panic.
func (d *Domain) logMisuse(e *MisuseError) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelError, "ctdefer: misuse (Options.Debug)",
		slog.String("method", e.Method), slog.Int("cpu", e.CPU), slog.String("reason", e.Reason), slog.String("detail", e.Detail))
}

// logCloseWaiting reports the CPUs Close has been waiting for (stalled).
func (d *Domain) logCloseWaiting(waited time.Duration) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	var busy []string
	var cpus []any
	for i := range d.slots {
		s := &d.slots[i]
		if s.claimed.Load() { // load: diagnostics
			busy = append(busy, s.word.Snapshot().State().String())
			cpus = append(cpus, s.cpu)
		}
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, "ctdefer: Close still waiting for workers to Release",
		slog.Any("cpu", cpus), slog.Any("state", busy), slog.Duration("waited", waited))
}

// logClose reports what Close handed back and the handler panics it
// recovered.
func (d *Domain) logClose(pending []Outcome, panics []error) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	for _, p := range pending {
		l.LogAttrs(context.Background(), slog.LevelWarn, "ctdefer: Close handed work back, never run",
			slog.Int("cpu", p.CPU), slog.String("work", p.Work.String()), slog.Any("err", p.Err))
	}
	for _, err := range panics {
		l.LogAttrs(context.Background(), slog.LevelError, "ctdefer: Close recovered a handler panic", slog.Any("err", err))
	}
}

// logLoopEnded reports a Go worker whose loop did not return (it panicked
// or called runtime.Goexit); relErr is Release's error, if any.
func (d *Domain) logLoopEnded(cpu int, relErr error) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	attrs := []slog.Attr{slog.Int("cpu", cpu)}
	if relErr != nil {
		attrs = append(attrs, slog.Any("err", relErr))
	}
	l.LogAttrs(context.Background(), slog.LevelError,
		"ctdefer: Go: worker loop panicked or called runtime.Goexit; CPU released", attrs...)
}

// logReleaseFailed reports a Release error of a Go worker whose loop
// returned (its affinity could not be restored).
func (d *Domain) logReleaseFailed(cpu int, err error) {
	l := d.opts.Logger
	if l == nil {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, "ctdefer: Go: Release failed", slog.Int("cpu", cpu), slog.Any("err", err))
}

// workNames lists the names of the works in work, comma-separated. The
// registry is fixed once a CPU has been claimed, which precedes every
// caller.
func (d *Domain) workNames(work ctseq.Work) string {
	var names []string
	for b := range ctseq.WorkBits {
		if work.Has(int(b)) && b < len(d.works) {
			names = append(names, d.works[b].name)
		}
	}
	return strings.Join(names, ",")
}
