package ctdefer_test

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/stretchr/testify/require"
)

// A wait that gives up (IPITimeout, the caller's deadline) is logged with
// the CPU, the work and the CPU's state; a canceled one only at Debug.
// Mutant caught: log-no-wait-failure.
func TestLoggerWaitFailures(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_ = startOwner(t, d, 0) // in the kernel, never polls

	require.ErrorIs(t, d.DeferWait(context.Background(), 0, w), ctdefer.ErrIPITimeout)
	r := rec.one(t, "wait failed")
	require.Equal(t, slog.LevelWarn, r.level)
	for k, v := range map[string]string{"method": "DeferWait", "cpu": "0", "work": "w", "state": "kernel", "delivery": "ipi", "claimed": "true"} {
		require.Equal(t, v, r.attrs[k], "attribute %s of %v", k, r)
	}
	require.Contains(t, r.attrs["err"], "IPI timed out")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, d.IPI(ctx, 0, w), context.Canceled)
	r = rec.one(t, "wait canceled")
	require.Equal(t, slog.LevelDebug, r.level)
	require.Equal(t, "IPI", r.attrs["method"])
}

// A wait whose context allows more than IPITimeout logs the stall once
// IPITimeout has passed, while it goes on waiting; here the worker runs the
// work only once the stall has been logged.
// Mutant caught: log-no-stall.
func TestLoggerWaitStall(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 1)
	waited := make(chan error, 1)
	go func() { waited <- d.DeferWait(ctxWithin(t, hangLimit), 1, w) }()
	r := rec.await(t, "CPU stalled")
	require.Equal(t, slog.LevelWarn, r.level)
	require.Equal(t, "1", r.attrs["cpu"])
	require.Equal(t, "kernel", r.attrs["state"])
	require.Equal(t, "0", r.attrs["transitions"], "the owner made none during the wait")
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.NoError(t, <-waited, "the stalled wait goes on and ends when the work runs")
	require.Len(t, rec.find("CPU stalled"), 1, "logged once per wait")
}

// An exited owner whose CPU is taken back is logged with the work handed
// back, and so is each delivery Close hands back.
// Mutants caught: log-no-close, log-no-owner-gone.
func TestLoggerOwnerGoneAndHandBack(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	w, err := d.Register("left", func(int) {})
	require.NoError(t, err)
	exitWithoutRelease(t, d, 0, true)
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 1, w), "CPU 1 is not claimed")
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.ErrorIs(t, cerr, ctdefer.ErrOwnerGone)

	r := rec.one(t, "owner exited without Release")
	require.Equal(t, slog.LevelWarn, r.level)
	require.Equal(t, "0", r.attrs["cpu"])
	require.Equal(t, "left", r.attrs["work"])
	require.NotEmpty(t, r.attrs["thread"])

	backs := rec.find("Close handed work back")
	require.Len(t, backs, 2, "%v", rec.all())
	got := map[string]string{}
	for _, b := range backs {
		require.Equal(t, "left", b.attrs["work"])
		got[b.attrs["cpu"]] = b.attrs["err"]
	}
	require.Contains(t, got["0"], "owner thread")
	require.Contains(t, got["1"], "posted while no worker held it")
}

// Close still waiting for a worker after IPITimeout logs the CPUs it waits
// for, with their state; here the worker releases once that is logged.
// Mutant caught: log-no-close-stall.
func TestLoggerCloseStall(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	o := startOwner(t, d, 1)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	closed := make(chan error, 1)
	go func() { closed <- d.Close(ctxWithin(t, hangLimit)) }()
	r := rec.await(t, "Close still waiting")
	require.Equal(t, "[1]", r.attrs["cpu"])
	require.Equal(t, "[user]", r.attrs["state"])
	o.stop()
	require.NoError(t, <-closed)
	require.Len(t, rec.find("Close still waiting"), 1, "logged once")
}

// A handler panic that Close recovers is logged.
// Mutant caught: log-no-close.
func TestLoggerClosePanic(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	w, err := d.Register("boom", func(int) { panic("boom") }, ctdefer.RemoteSafe())
	require.NoError(t, err)
	requireDefer(t, d, 0, w) // to an unclaimed CPU: Close runs it on its behalf
	require.Error(t, d.Close(context.Background()))
	r := rec.one(t, "Close recovered a handler panic")
	require.Equal(t, slog.LevelError, r.level)
	require.Contains(t, r.attrs["err"], "boom")
}

// A misuse found by the Debug checks is logged before the panic.
// Mutant caught: log-no-misuse.
func TestLoggerMisuse(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the owner check compares thread IDs, which only Linux gives without cgo")
	}
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.Debug = true })
	o := startOwner(t, d, 0)
	var c *ctdefer.CPU
	o.do(func(cpu *ctdefer.CPU) { c = cpu })
	p := recovered(func() { c.Poll() }) // from the test's goroutine: the wrong thread
	var me *ctdefer.MisuseError
	require.ErrorAs(t, p.(error), &me)
	r := rec.one(t, "misuse")
	require.Equal(t, slog.LevelError, r.level)
	require.Equal(t, "CPU.Poll", r.attrs["method"])
	require.Equal(t, "0", r.attrs["cpu"])
	require.Equal(t, "wrong thread", r.attrs["reason"])
}
