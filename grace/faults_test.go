package grace_test

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// Faults only a fault reaches: owners that exit while a wait needs them,
// calls that would wait for their caller, readers on released CPUs. The
// waits get generous contexts: a loaded machine may make them late, and the
// assertions are on what they return, never on how long they took.

// An owner that exits without Release while a wait needs its CPU: the wait
// takes the CPU back (it is then quiescent: unclaimed) and returns, and the
// grace Logger records it. Kernel-stretch flavour: Synchronize, Barrier
// and a Retire blocked at MaxPending, ExpeditedBarrier.
// Mutants caught: grace-wait-no-reap, grace-expedited-no-reap.
func TestExitedOwnerTakenBack(t *testing.T) {
	t.Run("synchronize", func(t *testing.T) {
		rec := &records{}
		f := mutFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond, Logger: slog.New(rec)})
		exit := exitingOwner(t, f.d, 0, nil) // stays in the kernel, never polls
		done := result(func() error { return f.g.Synchronize(ctxFor(t, faultLimit)) })
		startedGracePeriod(t, f.g)
		exit()
		require.NoError(t, recv(t, "Synchronize", done), "Synchronize after the owner exited")
		require.False(t, corelink.Of[ctdefer.CPU](f.d).Claimed(0), "the exited owner's CPU is taken back")
		require.Contains(t, rec.find("exited without Release"), "WARN", "not logged: %v", rec.logs)
	})
	t.Run("retire-barrier", func(t *testing.T) {
		f := mutFixture(t, 1, grace.Options{NudgeAfter: -1, MaxPending: 1})
		exit := exitingOwner(t, f.d, 0, nil)
		var ran atomic.Int32
		require.NoError(t, f.g.Retire(func() { ran.Add(1) }))
		startedGracePeriod(t, f.g) // the reclaimer's, for the first callback
		blocked := result(func() error { return f.g.Retire(func() { ran.Add(1) }) })
		barrier := result(func() error { return f.g.Barrier(ctxFor(t, faultLimit)) })
		exit()
		require.NoError(t, recv(t, "Retire", blocked), "Retire blocked at MaxPending")
		require.NoError(t, recv(t, "Barrier", barrier), "Barrier")
		require.NoError(t, f.g.Barrier(ctxFor(t, faultLimit)), "Barrier after both")
		require.EqualValues(t, 2, ran.Load(), "both callbacks ran")
	})
	t.Run("expedited-barrier", func(t *testing.T) {
		f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
		exit := exitingOwner(t, f.d, 0, nil)
		done := result(func() error { return f.g.ExpeditedBarrier(ctxFor(t, faultLimit)) })
		mutEventually(t, "the barrier's IPI", func() bool { return f.g.Stats().BarrierIPIs == 1 })
		exit()
		require.NoError(t, recv(t, "ExpeditedBarrier", done), "ExpeditedBarrier after the owner exited")
		require.False(t, corelink.Of[ctdefer.CPU](f.d).Claimed(0), "the exited owner's CPU is taken back")
	})
}

// The same for the QSBR flavour: an online reader whose owner exits without
// Offline or Release.
// Mutant caught: qsbr-wait-no-reap.
func TestQSBRExitedOwnerTakenBack(t *testing.T) {
	if grace.Instrumented {
		t.Skip("the explorer's build does not reap exited owners (its owners do not exit)")
	}
	rec := &records{}
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	q, err := grace.NewQSBR(f.d, grace.Options{MaxPending: 1, Logger: slog.New(rec)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close(ctxFor(t, 5*time.Second)) })
	exit := exitingOwner(t, f.d, 0, func(c *ctdefer.CPU) {
		q.Reader(c) // online: it holds references from here on
		c.UserEnter()
	})
	var ran atomic.Int32
	require.NoError(t, q.Retire(func() { ran.Add(1) }))
	blocked := result(func() error { return q.Retire(func() { ran.Add(1) }) })
	done := result(func() error { return q.Synchronize(ctxFor(t, faultLimit)) })
	mutEventually(t, "a grace period in progress", func() bool {
		return grace.QSBRStarted(q) > grace.QSBRCompleted(q)
	})
	exit()
	require.NoError(t, recv(t, "Synchronize", done), "Synchronize after the owner exited")
	require.NoError(t, recv(t, "Retire", blocked), "Retire blocked at MaxPending")
	require.NoError(t, q.Barrier(ctxFor(t, faultLimit)), "Barrier")
	require.EqualValues(t, 2, ran.Load(), "both callbacks ran")
	require.False(t, corelink.Of[ctdefer.CPU](f.d).Claimed(0), "the exited owner's CPU is taken back")
	require.Contains(t, rec.find("exited without Release"), "WARN", "not logged: %v", rec.logs)
}

// A wait by an owner inside a kernel stretch (or by a handler running on
// its thread) for a grace period or barrier that needs its own CPU returns
// ctdefer.ErrWouldDeadlock at once, whatever its context (the test's
// deadline only bounds a wait that the real code never starts); in user
// mode the same calls succeed.
// Mutants caught: grace-selfwait-no-cpu, grace-selfwait-ignores-held,
// grace-barrier-selfwait-unchecked, grace-expedited-selfwait-unchecked.
func TestWaitForOwnCPUWouldDeadlock(t *testing.T) {
	ctx := ctxFor(t, faultLimit)
	calls := []struct {
		name string
		call func(g *grace.Domain) error
	}{
		{"Synchronize", func(g *grace.Domain) error { return g.Synchronize(ctx) }},
		{"Wait", func(g *grace.Domain) error { return g.Wait(ctx, g.Start()) }},
		{"Barrier", func(g *grace.Domain) error {
			if err := g.Retire(func() {}); err != nil {
				return err
			}
			return g.Barrier(ctx)
		}},
		{"ExpeditedBarrier", func(g *grace.Domain) error { return g.ExpeditedBarrier(ctx) }},
	}
	for _, tc := range calls {
		t.Run(tc.name+"/owner", func(t *testing.T) {
			f := mutFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond})
			got := make(chan error, 1)
			f.owner(0, func(*ctdefer.CPU) { got <- tc.call(f.g) }) // in the kernel since Claim
			err := recv(t, tc.name, got)
			require.ErrorIs(t, err, ctdefer.ErrWouldDeadlock, "%s by the owner in the kernel", tc.name)
			require.ErrorContains(t, err, "grace: "+tc.name+": ")
			require.ErrorContains(t, err, "CPU 0")
		})
		t.Run(tc.name+"/handler", func(t *testing.T) {
			d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
			require.NoError(t, err)
			var g *grace.Domain
			got := make(chan error, 1)
			w, err := d.Register("waits", func(int) { got <- tc.call(g) })
			require.NoError(t, err)
			g, err = grace.New(d, grace.Options{NudgeAfter: time.Nanosecond})
			require.NoError(t, err)
			f := &fixture{t: t, d: d, g: g, cpus: []int{0}}
			t.Cleanup(func() {
				_ = g.Close(ctxFor(t, 5*time.Second))
				_ = d.Close(ctxFor(t, 5*time.Second))
				f.wg.Wait()
			})
			sb := f.ownerWith(0, modeKernelPoll) // the handler runs at a poll point
			_, err = d.Defer(0, w)
			require.NoError(t, err)
			require.ErrorIs(t, recv(t, tc.name, got), ctdefer.ErrWouldDeadlock, "%s from a handler on the owner's thread", tc.name)
			sb.set(t, modeUser)
		})
		t.Run(tc.name+"/user-mode", func(t *testing.T) {
			f := mutFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond})
			got := make(chan error, 1)
			f.owner(0, func(c *ctdefer.CPU) {
				c.UserEnter() // quiescent: no wait needs this CPU
				got <- tc.call(f.g)
				c.KernelEnter()
			})
			require.NoError(t, recv(t, tc.name, got), "%s by the owner in user mode", tc.name)
		})
	}
}

// A Wait for a grace period that began while the owner was in user mode, and
// so does not hold its CPU, is not refused: it returns once the grace
// period's other CPU moves. The check is about the CPU, not the caller.
// Mutant caught: grace-selfwait-refuses-unheld.
func TestWaitByOwnerForGracePeriodWithoutItsCPU(t *testing.T) {
	// Start's scan starts the nudge clock; a later scan, by the owner's
	// Wait, nudges CPU 1: the sign that the Wait is under way.
	f := mutFixture(t, 2, grace.Options{NudgeAfter: time.Microsecond})
	other := f.ownerWith(1, modeKernel) // holds the grace period up
	tokens := make(chan grace.Token)
	got := make(chan error, 1)
	f.owner(0, func(c *ctdefer.CPU) {
		c.UserEnter()
		tok := f.g.Start() // snapshots CPU 0 in user mode: quiescent
		c.KernelEnter()
		tokens <- tok
		got <- f.g.Wait(ctxFor(t, faultLimit), tok)
	})
	tok := <-tokens
	require.False(t, f.g.Completed(tok), "CPU 1 holds the grace period up")
	mutEventually(t, "the Wait's nudge to CPU 1", func() bool { return f.g.Stats().Nudges >= 1 })
	other.set(t, modeUser)
	require.NoError(t, recv(t, "Wait", got), "Wait by CPU 0's owner for a grace period that does not need CPU 0")
}

// Domain.Reader on a released handle panics (a misuse, like every owner
// method on a released handle), with a message naming the call and the CPU; the
// grace periods are unaffected.
// Mutant caught: qsbr-reader-after-release.
func TestQSBRReaderAfterRelease(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	got := make(chan any, 1)
	go func() {
		c, err := f.d.Claim(f.cpus[0])
		if err == nil {
			err = c.Release()
		}
		if err != nil {
			got <- fmt.Sprintf("Claim or Release: %v", err)
			return
		}
		defer func() { got <- recover() }()
		f.q.Reader(c)
	}()
	v := <-got
	e := requireMisuse(t, v, "Reader", "released handle")
	require.Equal(t, f.cpus[0], e.CPU, "the misuse names the CPU")
	require.Contains(t, e.Error(), "after Release")
	f.reader(f.cpus[0], qOffline) // a later owner: nobody registered for it
	require.NoError(t, f.q.Synchronize(ctxFor(t, faultLimit)), "no grace period waits for the refused registration")
}

// A reader left online when its CPU is released, and the CPU then claimed
// by an owner that registers no reader: grace periods no longer wait for
// the stale reader, and the Logger names the mistake.
// Mutant caught: qsbr-stale-reader-waited.
func TestQSBRStaleReaderAfterReclaim(t *testing.T) {
	rec := &records{}
	f := newQFixture(t, 1, grace.Options{Logger: slog.New(rec)})
	cpu := f.cpus[0]
	qr := f.reader(cpu, qStuck) // online, holding references
	qr.set(t, qRelease)         // released without Offline
	mutEventually(t, "the release", func() bool { return !corelink.Of[ctdefer.CPU](f.d).Claimed(cpu) })
	require.NoError(t, f.q.Synchronize(ctxFor(t, faultLimit)), "an unclaimed CPU holds nothing")

	nf := &fixture{t: t, d: f.d, cpus: f.cpus}
	nf.owner(cpu, func(c *ctdefer.CPU) { // the new owner: no reader, stays in the kernel
		for !c.Closing() && corelink.Of[ctdefer.CPU](f.d).Claimed(cpu) {
			time.Sleep(100 * time.Microsecond)
			if rec.find("left online") != "" {
				return
			}
		}
	})
	err := f.q.Synchronize(ctxFor(t, faultLimit))
	require.NoError(t, err, "Synchronize waited for the reader of the CPU's previous claim")
	l := rec.find("left online")
	require.Contains(t, l, "WARN")
	require.Contains(t, l, fmt.Sprintf("cpu=%d", cpu))
	nf.wg.Wait()
	require.False(t, errors.As(err, new(*grace.StallError)))
}
