package grace_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime/trace"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/grace"
)

// A wait ended by its context is logged at Warn with the CPUs, in both
// flavours; a grace period that nudges is logged at Debug.
// Mutants caught: none.
func TestLoggerEvents(t *testing.T) {
	t.Run("qsbr-stall", func(t *testing.T) {
		rec := &records{}
		f := newQFixture(t, 1, grace.Options{Logger: slog.New(rec)})
		f.reader(f.cpus[0], qStuck)
		require.ErrorAs(t, f.q.Synchronize(ctxFor(t, 10*time.Millisecond)), new(*grace.StallError))
		l := rec.find("ended by its context")
		require.NotEmpty(t, l, "no stall logged: %v", rec.logs)
		require.Contains(t, l, "WARN")
		require.Contains(t, l, "QSBR reader online")
	})
	t.Run("kernel-nudge-and-stall", func(t *testing.T) {
		rec := &records{}
		f := newFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond, Logger: slog.New(rec)})
		f.ownerWith(f.cpus[0], modeKernelPoll) // polls (runs nudges) but never reports
		require.ErrorAs(t, f.g.Synchronize(ctxFor(t, 20*time.Millisecond)), new(*grace.StallError))
		require.Contains(t, rec.find("nudged CPUs"), "DEBUG", "nudge not logged: %v", rec.logs)
		require.Contains(t, rec.find("ended by its context"), "WARN", "stall not logged: %v", rec.logs)
	})
}

// Every wait that its context ends is logged at Warn with the CPUs, not
// only Synchronize and Wait: Barrier, ExpeditedBarrier, and a Close that
// drops retired callbacks (at Error, with the count).
// Mutants caught: grace-barrier-no-log, grace-expedited-no-log,
// grace-close-no-log.
func TestLoggerStalledWaits(t *testing.T) {
	rec := &records{}
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1, Logger: slog.New(rec)})
	sb := f.ownerWith(f.cpus[0], modeKernel) // never polls, never reports
	require.NoError(t, f.g.Retire(func() {}))

	require.ErrorAs(t, f.g.Barrier(ctxFor(t, 5*time.Millisecond)), new(*grace.StallError))
	l := rec.find("op=Barrier")
	require.Contains(t, l, "WARN", "Barrier's stall not logged: %v", rec.logs)
	require.Contains(t, l, fmt.Sprintf("CPU %d", f.cpus[0]), "the record names the CPU")

	require.ErrorAs(t, f.g.ExpeditedBarrier(ctxFor(t, 5*time.Millisecond)), new(*grace.StallError))
	l = rec.find("op=ExpeditedBarrier")
	require.Contains(t, l, "WARN", "ExpeditedBarrier's stall not logged: %v", rec.logs)
	require.Contains(t, l, fmt.Sprintf("CPU %d", f.cpus[0]), "the record names the CPU")

	err := f.g.Close(ctxFor(t, 5*time.Millisecond))
	require.ErrorAs(t, err, new(*grace.StallError))
	l = rec.find("Close dropped")
	require.Contains(t, l, "ERROR", "Close's drop not logged: %v", rec.logs)
	require.Contains(t, l, "dropped=1", "the record counts the callbacks")
	sb.set(t, modeUser)
}

// While a trace is recorded, a wait for a grace period is a task named
// after the flavour's call.
// Mutants caught: none.
func TestTraceTask(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	f.reader(f.cpus[0], qStuck)
	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	require.ErrorAs(t, f.q.Synchronize(ctxFor(t, time.Millisecond)), new(*grace.StallError))
	trace.Stop()
	name := "grace.Synchronize"
	require.True(t, bytes.Contains(buf.Bytes(), append([]byte{byte(len(name))}, name...)), "the trace holds %q", name)
}

// Synchronize allocates nothing, whether its CPUs are skipped (user mode,
// idle) or one must be nudged and report (the wait, the nudge, the trace
// task's name).
// Mutants caught: none.
func TestSynchronizeAllocatesNothing(t *testing.T) {
	if grace.Instrumented {
		t.Skip("the explorer's instrumented atomics allocate")
	}
	for _, tc := range []struct {
		name string
		mode int32
	}{{"user-idle", modeUser}, {"kernel-nudge", modeKernelCheckpoint}} {
		t.Run(tc.name, func(t *testing.T) {
			f := benchFixture(t, tc.mode, grace.Options{NudgeAfter: time.Nanosecond, SpinWait: time.Minute})
			ctx := context.Background()
			require.NoError(t, f.g.Synchronize(ctx))
			allocs := testing.AllocsPerRun(20, func() {
				if err := f.g.Synchronize(ctx); err != nil {
					t.Fatal(err)
				}
			})
			require.Zero(t, allocs, "allocations per Synchronize")
		})
	}
}
