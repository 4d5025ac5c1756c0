package ctdefer_test

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// Go releases the CPU when the loop returns.
// Mutant caught: go-no-release.
func TestGoReleasesWhenLoopReturns(t *testing.T) {
	rec := goWorkerEnds(t, func(*ctdefer.CPU) {})
	require.Empty(t, rec.find("Go:"), "a loop that returned is not reported")
}

// Go releases the CPU when the loop calls runtime.Goexit, and logs it.
// The record is written after the release (it says "CPU released"), so
// Close, which waits for the release, may return before it: the test waits
// for it (late, on a loaded machine, is not missing).
// Mutant caught: go-no-release.
func TestGoReleasesOnGoexit(t *testing.T) {
	const msg = "worker loop panicked or called runtime.Goexit"
	rec := goWorkerEnds(t, func(*ctdefer.CPU) { runtime.Goexit() })
	eventually(t, "the Goexit's log record", func() bool { return len(rec.find(msg)) > 0 })
	r := rec.one(t, msg)
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
// Mutants caught: none.
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
