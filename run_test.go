package ctdefer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// goWorkerEnds runs a Go worker on CPU 0 that enters user mode, has work
// deferred to it, and then ends its loop with end (return, runtime.Goexit,
// its own Release). It checks that the CPU was released: the deferred work
// ran (Release drains it), Close has nothing to hand back, the CPU is free.
func goWorkerEnds(t *testing.T, end func(c *ctdefer.CPU)) *logRecorder {
	t.Helper()
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	cnt := newCounter()
	w, err := d.Register("w", cnt.handler)
	require.NoError(t, err)
	inUser, deferred := make(chan struct{}), make(chan struct{})
	require.NoError(t, d.Go(0, func(c *ctdefer.CPU) {
		c.UserEnter()
		close(inUser)
		<-deferred
		end(c)
	}))
	<-inUser
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	close(deferred)
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.NoError(t, cerr, "the worker released its CPU: nothing handed back, no owner lost")
	require.Equal(t, 1, cnt.get(0), "Release ran the work deferred before the loop ended")
	require.False(t, d.Claimed(0))
	require.Zero(t, d.Stats().OwnersGone)
	return rec
}

// Go releases the CPU when the loop returns.
// Mutant caught: go-no-release.
func TestGoReleasesWhenLoopReturns(t *testing.T) {
	rec := goWorkerEnds(t, func(*ctdefer.CPU) {})
	require.Empty(t, rec.find("Go:"), "a loop that returned is not reported")
}

// Go releases the CPU when the loop calls runtime.Goexit, and logs it.
// Mutant caught: go-no-release.
func TestGoReleasesOnGoexit(t *testing.T) {
	rec := goWorkerEnds(t, func(*ctdefer.CPU) { runtime.Goexit() })
	r := rec.one(t, "worker loop panicked or called runtime.Goexit")
	require.Equal(t, slog.LevelError, r.level)
	require.Equal(t, "0", r.attrs["cpu"])
}

// A loop may release the CPU itself: Go does not release it twice.
// Mutant caught: go-release-twice.
func TestGoLoopMayRelease(t *testing.T) {
	rec := goWorkerEnds(t, func(c *ctdefer.CPU) { require.NoError(t, c.Release()) })
	require.Empty(t, rec.find("Go:"))
}

// Go returns the claim's error synchronously, and the loop never runs.
func TestGoReturnsClaimError(t *testing.T) {
	d := edgeDomain(t)
	ran := make(chan struct{}, 3)
	loop := func(*ctdefer.CPU) { ran <- struct{}{} }
	err := d.Go(7, loop)
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	require.ErrorContains(t, err, "ctdefer.Domain.Claim: cpu 7")
	o := startOwner(t, d, 0)
	require.ErrorIs(t, d.Go(0, loop), ctdefer.ErrCPUBusy)
	require.ErrorIs(t, d.Go(1, loop, nil), ctdefer.ErrInvalid)
	err = d.Go(1, nil)
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	require.True(t, strings.HasPrefix(err.Error(), "ctdefer.Domain.Go: loop: nil (CPU 1)"), err.Error())
	require.False(t, d.Claimed(1))
	o.stop()
	require.NoError(t, d.Close(ctxWithin(t, hangLimit)), "no worker left claimed")
	require.Empty(t, ran, "the loop never ran")
}

// goPanicChild is the environment variable that makes
// TestGoReleasesOnPanic's child process run the panicking worker.
const goPanicChild = "CTDEFER_TEST_GO_PANIC_CHILD"

// A loop that panics: Go releases the CPU (the pending deferred work runs,
// the CPU is free) before the panic goes on and ends the program with the
// loop's own stack. The panic must end a process, so a child runs it.
// Mutant caught: go-swallows-panic.
func TestGoReleasesOnPanic(t *testing.T) {
	if os.Getenv(goPanicChild) == "1" {
		goPanicWorker()
		return
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestGoReleasesOnPanic$", "-test.count=1")
	cmd.Env = append(os.Environ(), goPanicChild+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must die of the panic; output:\n%s", out.String())
	s := out.String()
	require.Contains(t, s, "work ran on CPU 0", "Release ran the deferred work")
	require.Contains(t, s, "released: claimed=false", "the CPU was free before the panic went on")
	require.Contains(t, s, "panic: boom in the loop", "the loop's panic went on")
	require.Contains(t, s, "goPanicWorker.func", "with the loop's stack")
	require.Less(t, strings.Index(s, "released: claimed=false"), strings.Index(s, "panic: boom"), "release first")
}

// goPanicWorker is the child's side of TestGoReleasesOnPanic: it prints
// what it sees to stdout and never returns (the panic ends the process).
func goPanicWorker() {
	var d *ctdefer.Domain
	logger := slog.New(handlerFunc(func(r slog.Record) {
		if strings.Contains(r.Message, "worker loop panicked") {
			fmt.Printf("released: claimed=%v\n", d.Claimed(0))
		}
	}))
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, Logger: logger})
	if err != nil {
		panic(err)
	}
	w, err := d.Register("w", func(cpu int) { fmt.Printf("work ran on CPU %d\n", cpu) })
	if err != nil {
		panic(err)
	}
	if err := d.Go(0, func(c *ctdefer.CPU) {
		c.UserEnter()
		if how, err := d.Defer(0, w); err != nil || how != ctdefer.Deferred {
			panic(fmt.Sprint("Defer: ", how, err))
		}
		panic("boom in the loop")
	}); err != nil {
		panic(err)
	}
	// The worker's panic ends the process; if it does not (a Go that
	// swallows it), say so and exit cleanly, which the parent reports.
	time.Sleep(hangLimit)
	fmt.Println("the loop's panic did not end the process")
	os.Exit(0)
}

// handlerFunc is a slog.Handler that calls a function for each record.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool      { return true }
func (h handlerFunc) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h handlerFunc) WithGroup(string) slog.Handler                 { return h }
