package ctdefer_test

// The queue's lifecycle and waits, as for bits (owner_test.go): SendWait's
// completion, Release, Close, a panicking handler and an exited owner,
// each checked for values lost or run twice.

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// edgeQueue is a queue of ints on an edgeDomain.
func edgeQueue(t *testing.T, d *ctdefer.Domain, capacity int, ropts ...ctdefer.RegisterOption) (*recorder, *ctdefer.Queue[int]) {
	t.Helper()
	rec := newRecorder()
	q, err := ctdefer.NewQueue(d, "values", capacity, rec.handle, ropts...)
	require.NoError(t, err, "NewQueue")
	return rec, q
}

// handedBack returns the values of Close's report for the queue, in order,
// and checks that each carries reason.
func handedBack(t *testing.T, cerr error, reason error) []int {
	t.Helper()
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue, "Close reports what it handed back")
	var vals []int
	for _, p := range ue.Pending {
		require.Equal(t, "values", p.Work.String(), "only the queue's values are listed, not its work bit: %v", ue)
		require.ErrorIs(t, p.Err, reason)
		v, ok := p.Value.(int)
		require.True(t, ok, "each entry carries its value: %#v", p)
		vals = append(vals, v)
	}
	return vals
}

// SendWait returns after its value has run, not before, for a deferred
// delivery and for an IPI.
// (The explorer's queue/send-wait catches queue-head-before-handler
// exactly; this test shows it on the real scheduler.)
func TestQueueSendWaitReturnsAfterRun(t *testing.T) {
	for _, user := range []bool{true, false} {
		t.Run(map[bool]string{true: "deferred", false: "ipi"}[user], func(t *testing.T) {
			d := edgeDomain(t)
			var ranAtReturn []int
			rec := newRecorder()
			q, err := ctdefer.NewQueue(d, "values", 4, func(cpu, v int) {
				time.Sleep(time.Millisecond) // a late head store would be seen by the waiter meanwhile
				rec.handle(cpu, v)
			})
			require.NoError(t, err)
			o := startOwner(t, d, 0)
			if user {
				o.do(func(c *ctdefer.CPU) { c.UserEnter() })
			}
			done := make(chan error, 1)
			go func() {
				err := q.SendWait(context.Background(), 0, 42)
				ranAtReturn = rec.get(0)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("SendWait returned (%v) before the owner's poll point", err)
			case <-time.After(20 * time.Millisecond):
			}
			o.do(func(c *ctdefer.CPU) {
				if user {
					c.KernelEnter()
				} else {
					for !c.Poll() {
					}
				}
			})
			var werr error
			within(t, "SendWait", func() { werr = <-done })
			require.NoError(t, werr)
			require.Equal(t, []int{42}, ranAtReturn, "SendWait returns after its value ran")
		})
	}
}

// A SendWait whose context ends returns the context's error naming the
// CPU; the value stays queued and runs once.
func TestQueueSendWaitHonoursContext(t *testing.T) {
	d := edgeDomain(t)
	rec, q := edgeQueue(t, d, 4)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var err error
	within(t, "SendWait with a deadline", func() { err = q.SendWait(ctx, 0, 5) })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "CPU 0")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, []int{5}, rec.get(0), "late, never lost")
}

// Release runs the values pending on the CPU, as it runs pending bits.
func TestQueueReleaseRunsPendingValues(t *testing.T) {
	d := edgeDomain(t)
	rec, q := edgeQueue(t, d, 8)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	_, err := q.Send(0, 1, 2, 3)
	require.NoError(t, err)
	o.stop()
	require.Equal(t, []int{1, 2, 3}, rec.get(0), "Release runs the deferred values")
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.NoError(t, cerr, "nothing to hand back")
}

// Close hands back, with the values, what no worker could run: one
// Outcome per value, in send order, and a SendWait for one of them
// returns ErrClosed. Values Close refused are never listed.
// Mutants caught: queue-report-drops-values, queue-report-lists-bit, queue-waiter-ignores-handback.
func TestQueueCloseHandsBackValues(t *testing.T) {
	d := edgeDomain(t)
	rec, q := edgeQueue(t, d, 8)
	_, err := q.Send(1, 1, 2)
	require.NoError(t, err, "values for a CPU nobody holds wait for its next owner")
	_, err = q.Send(1, 3)
	require.NoError(t, err)
	werr := make(chan error, 1)
	go func() { werr <- q.SendWait(context.Background(), 1, 4) }()
	// The waiter's value is in once its IPI is posted (nobody holds the CPU).
	require.Eventually(t, func() bool { return queueStats(t, d).IPIs == 3 }, hangLimit, time.Millisecond)
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.Equal(t, []int{1, 2, 3, 4}, handedBack(t, cerr, ctdefer.ErrClosed), "each value handed back once, in send order")
	require.ErrorIs(t, <-werr, ctdefer.ErrClosed, "SendWait returns the reason its value was handed back")
	require.Empty(t, rec.get(1), "handed-back values never run")
	_, err = q.Send(1, 5)
	require.ErrorIs(t, err, ctdefer.ErrClosed, "a closed Domain refuses values")
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue)
	require.Len(t, ue.Pending, 4, "refused values are never listed")
}

// Close runs a RemoteSafe queue's values for a CPU nobody holds, as it
// runs RemoteSafe work; nothing is handed back.
func TestQueueCloseRunsRemoteSafeValues(t *testing.T) {
	d := edgeDomain(t)
	rec, q := edgeQueue(t, d, 8, ctdefer.RemoteSafe())
	_, err := q.Send(1, 1, 2, 3)
	require.NoError(t, err)
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.NoError(t, cerr)
	require.Equal(t, []int{1, 2, 3}, rec.get(1), "run once each, in order")
}

// A panicking value counts as run; the rest of the values of the same
// drain still run, then the panic propagates as a handler's does (a
// *ctseq.HandlerPanic from Poll). Nothing runs twice; SendWait
// for the panicking value returns nil (it ran).
// Mutants caught: queue-panic-drops-rest, queue-panic-not-propagated.
func TestQueuePanickingHandler(t *testing.T) {
	d := edgeDomain(t)
	rec := newRecorder()
	boom := errors.New("boom")
	q, err := ctdefer.NewQueue(d, "values", 4, func(cpu, v int) {
		rec.handle(cpu, v)
		if v == 2 {
			panic(boom)
		}
	})
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	_, err = q.Send(0, 1)
	require.NoError(t, err)
	werr := make(chan error, 1)
	go func() { werr <- q.SendWait(context.Background(), 0, 2) }()
	// The waiter's value is in once its IPI is posted (the CPU is in the kernel).
	require.Eventually(t, func() bool { return queueStats(t, d).IPIs == 2 }, hangLimit, time.Millisecond)
	_, err = q.Send(0, 3, 4)
	require.NoError(t, err)
	var p any
	o.do(func(c *ctdefer.CPU) { p = recovered(func() { c.Poll() }) })
	hp, ok := p.(*ctseq.HandlerPanic)
	require.True(t, ok, "Poll panics with *ctseq.HandlerPanic, got %T %v", p, p)
	require.ErrorIs(t, hp, boom, "carrying the value's panic")
	require.Equal(t, []int{1, 2, 3, 4}, rec.get(0), "the rest of the batch runs before the panic propagates")
	require.NoError(t, <-werr, "the panicking value counts as run")
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter(); c.Poll() })
	require.Equal(t, []int{1, 2, 3, 4}, rec.get(0), "no value runs twice")
	o.stop()
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.NoError(t, cerr, "nothing handed back")
}

// An owner that exits without Release: its values are handed back with
// ErrOwnerGone, listed by Close with the values, and a SendWait for one of
// them returns ErrOwnerGone. Nothing runs, not even for the next owner.
// Mutant caught: queue-reclaim-keeps-values.
func TestQueueOwnerGoneHandsBackValues(t *testing.T) {
	d := edgeDomain(t)
	rec, q := edgeQueue(t, d, 8)
	exitWithoutRelease(t, d, 0, true)
	how, err := q.Send(0, 1, 2)
	require.NoError(t, err)
	require.Equal(t, ctdefer.Deferred, how, "the dead owner's word is still in user mode")
	var werr error
	within(t, "SendWait to a dead owner", func() { werr = q.SendWait(context.Background(), 0, 3) })
	require.ErrorIs(t, werr, ctdefer.ErrOwnerGone, "the wait finds the owner gone")
	require.False(t, d.Claimed(0), "the CPU was taken back")
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() })
	o.stop()
	require.Empty(t, rec.get(0), "handed-back values never run, not even for the next owner")
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.Equal(t, []int{1, 2, 3}, handedBack(t, cerr, ctdefer.ErrOwnerGone))
}

// A value's handler that calls runtime.Goexit (as t.FailNow does) counts as
// run: the rest of the drain runs as the Goexit unwinds, before the owner's
// goroutine ends; nothing is handed back, nothing runs twice.
// Mutant caught: queue-goexit-drops-rest.
func TestQueueHandlerGoexit(t *testing.T) {
	d := edgeDomain(t)
	rec := newRecorder()
	q, err := ctdefer.NewQueue(d, "values", 8, func(cpu, v int) {
		rec.handle(cpu, v)
		if v == 2 {
			runtime.Goexit()
		}
	})
	require.NoError(t, err)
	step, ended := make(chan struct{}), make(chan struct{})
	var ranAtExit []int
	require.NoError(t, d.Go(0, func(c *ctdefer.CPU) {
		defer close(ended)
		defer func() { ranAtExit = rec.get(0) }() // after the handlers, however they end
		c.UserEnter()
		step <- struct{}{}
		<-step
		c.KernelEnter()
		t.Error("the owner went on after its handler's Goexit")
	}))
	<-step
	_, err = q.Send(0, 1, 2, 3)
	require.NoError(t, err)
	step <- struct{}{}
	<-ended
	require.Equal(t, []int{1, 2, 3}, ranAtExit, "the values after the Goexit ran before the owner's goroutine ended")
	eventually(t, "the worker released the CPU", func() bool { return !d.Claimed(0) })
	require.NoError(t, d.Close(ctxWithin(t, hangLimit)), "nothing lost, nothing handed back")
	require.Equal(t, []int{1, 2, 3}, rec.get(0), "nothing runs twice")
}
