package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/stretchr/testify/require"
)

// Values sent to a CPU in user mode run at its next kernel entry, in
// order, once, and not before.
// Mutants caught: none.
func TestQueueSendToUserIsDeferred(t *testing.T) {
	cpus, _, rec, q, o := queueOwner(t, 8)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	how, err := q.Send(cpus[0], 1, 2, 3)
	require.NoError(t, err)
	require.Equal(t, ctdefer.Deferred, how, "a batch to a CPU in user mode is deferred")
	how, err = q.Send(cpus[0], 4)
	require.NoError(t, err)
	require.Equal(t, ctdefer.Deferred, how)
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.Empty(t, rec.get(cpus[0]), "deferred values must not run before the kernel entry (a Poll without IPI runs nothing)")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, []int{1, 2, 3, 4}, rec.get(cpus[0]), "KernelEnter runs every value once, in the order sent")
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() })
	require.Equal(t, []int{1, 2, 3, 4}, rec.get(cpus[0]), "no value runs twice")
}

// A value sent to a CPU in the kernel is an IPI, run at the next poll point.
// Mutants caught: none.
func TestQueueSendToKernelIsIPI(t *testing.T) {
	cpus, _, rec, q, o := queueOwner(t, 8)
	how, err := q.Send(cpus[0], 7)
	require.NoError(t, err)
	require.Equal(t, ctdefer.IPI, how)
	require.Empty(t, rec.get(cpus[0]), "the IPI waits for a poll point")
	o.do(func(c *ctdefer.CPU) { require.True(t, c.Poll(), "Poll handles the IPI") })
	require.Equal(t, []int{7}, rec.get(cpus[0]))
}

// A batch of N values costs one deferral, not N: counted by the IPIs the
// Domain posts for the queue's work (Stats), each one delivery.
// Mutant caught: queue-defer-per-value.
func TestQueueBatchIsOneDelivery(t *testing.T) {
	cpus, d, rec, q, o := queueOwner(t, 64)
	_, err := q.Send(cpus[0], 1, 2, 3, 4, 5, 6, 7, 8)
	require.NoError(t, err)
	require.Equal(t, uint64(1), queueStats(t, d).IPIs, "a batch of 8 values to a CPU in the kernel is one IPI")
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, rec.get(cpus[0]))
	require.Equal(t, uint64(1), queueStats(t, d).IPIRuns, "one run of the queue's work drains the batch")
	for v := range 4 {
		_, err := q.Send(cpus[0], v)
		require.NoError(t, err)
	}
	require.Equal(t, uint64(5), queueStats(t, d).IPIs, "one delivery per Send")
}

// A full queue refuses the whole batch, names the CPU and the capacity, and
// loses nothing: what was accepted runs, what was refused never does.
// Mutants caught: queue-full-off-by-one, queue-full-checks-first-value, queue-drain-never-publishes, queue-room-trusts-no-head.
func TestQueueFullIsAllOrNothing(t *testing.T) {
	// Capacity 3 in 4 cells: a check that lets too much in fails here, not
	// by overwriting a cell (which would hang the drain).
	cpus, _, rec, q, o := queueOwner(t, 3)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	_, err := q.Send(cpus[0], 1, 2)
	require.NoError(t, err)
	_, err = q.Send(cpus[0], 3, 4)
	require.ErrorIs(t, err, ctdefer.ErrFull, "2 values do not fit in the 1 place left")
	require.Contains(t, err.Error(), fmt.Sprintf("CPU %d", cpus[0]), "the error names the CPU")
	require.Contains(t, err.Error(), "capacity 3", "the error names the capacity")
	_, err = q.Send(cpus[0], 3)
	require.NoError(t, err, "the last place is still free after a refused batch")
	_, err = q.Send(cpus[0], 4)
	require.ErrorIs(t, err, ctdefer.ErrFull, "exactly capacity values fit")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, []int{1, 2, 3}, rec.get(cpus[0]), "accepted values run, refused ones never")
	_, err = q.Send(cpus[0], 4, 5, 6)
	require.NoError(t, err, "the drain frees every place")
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, rec.get(cpus[0]))
}

// NewQueue and Send refuse bad arguments with an *ArgError naming the
// call and the argument: a capacity below 1, a nil handler, a bad name
// (Register's error, as NewQueue's), a CPU not in the Domain, and a batch
// larger than the capacity, which could never fit; an empty batch does
// nothing.
// Mutants caught: none.
func TestQueueArgErrors(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	var ae *ctdefer.ArgError
	_, err := ctdefer.NewQueue(d, "q", 0, func(int, int) {})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "capacity", ae.Arg)
	_, err = ctdefer.NewQueue[int](d, "q", 4, nil)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "handle", ae.Arg)
	_, err = ctdefer.NewQueue(d, "", 4, func(int, int) {})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ctdefer.NewQueue", ae.Call, "Register's error is NewQueue's")
	q, err := ctdefer.NewQueue(d, "q", 2, func(int, int) {})
	require.NoError(t, err)
	_, err = q.Send(maxCPU, 1)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "cpu", ae.Arg)
	_, err = q.Send(cpus[0], 1, 2, 3)
	require.ErrorAs(t, err, &ae, "a batch larger than the capacity can never fit")
	require.Equal(t, "vs", ae.Arg)
	how, err := q.Send(cpus[0])
	require.NoError(t, err, "an empty batch does nothing")
	require.Zero(t, how)
}

// The 17th kind of work, a queue or a bit, fails naming the limit.
// Mutants caught: none.
func TestQueueCountsAgainstKindLimit(t *testing.T) {
	d := newDomain(t, testOptions())
	for i := range ctseq.WorkBits - 1 {
		_, err := d.Register(fmt.Sprint("w", i), func(int) {})
		require.NoError(t, err)
	}
	_, err := ctdefer.NewQueue(d, "q16", 1, func(int, int) {})
	require.NoError(t, err, "the 16th kind may be a queue")
	_, err = ctdefer.NewQueue(d, "q17", 1, func(int, int) {})
	var ae *ctdefer.ArgError
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Reason, "16 kinds of work are registered already, the limit")
	_, err = d.Register("w17", func(int) {})
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Reason, "the limit")
}

// A RemoteSafe queue's values sent to a parked CPU run on the sender,
// before Send returns, without waking the CPU.
// Mutants caught: none.
func TestQueueRemoteSafeRunsOnBehalf(t *testing.T) {
	cpus, d, rec, q, o := queueOwner(t, 8, ctdefer.RemoteSafe())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parked := o.async(func(c *ctdefer.CPU) { _ = c.Idle(ctx) })
	waitState(t, d, cpus[0], ctseq.Idle)
	how, err := q.Send(cpus[0], 1, 2)
	require.NoError(t, err)
	require.Equal(t, ctdefer.OnBehalf, how)
	require.Equal(t, []int{1, 2}, rec.get(cpus[0]), "run on behalf, before Send returned")
	select {
	case <-parked:
		t.Fatal("the parked CPU was woken although its values were run on its behalf")
	case <-time.After(10 * time.Millisecond):
	}
	cancel()
	<-parked
}

// Send of a non-pointer value allocates nothing, deferred or drained.
// Mutants caught: none.
func TestQueueSendZeroAlloc(t *testing.T) {
	cpus := twoCPUs(t)
	opts := testOptions()
	opts.Debug = false
	d := newDomain(t, opts)
	q, err := ctdefer.NewQueue(d, "values", 16, func(int, int) {})
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	o.do(func(c *ctdefer.CPU) {
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.UserEnter()
			_, _ = q.Send(cpus[0], 1)
			_, _ = q.Send(cpus[0], 2, 3, 4)
			c.KernelEnter()
		}), "UserEnter + Send (deferred) + KernelEnter draining the values")
	})
}

// Each sender's values run in the order it sent them, each exactly once,
// under two concurrent senders and an owner looping through kernel entries
// and polls.
// Run with -race, it checks that a value's write is published to its
// handler (payload before handler).
// Mutants caught: none.
func TestQueueTwoSendersOrderExactlyOnce(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	const senders, per = 2, 2000
	var mu sync.Mutex
	var ran []int
	q, err := ctdefer.NewQueue(d, "values", 8, func(_ int, v int) {
		mu.Lock()
		ran = append(ran, v)
		mu.Unlock()
	})
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	stop := stopAtCleanup(t)
	loop := o.userKernelLoop(stop, 4)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; {
				v := s*per + i
				_, err := q.Send(cpus[0], v, v+1)
				if errors.Is(err, ctdefer.ErrFull) {
					continue // retry: no value lost at the bound
				}
				if err != nil {
					t.Error(err)
					return
				}
				i += 2
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-loop
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	mu.Lock()
	defer mu.Unlock()
	seen := map[int]int{}
	last := []int{-1, -1}
	for _, v := range ran {
		seen[v]++
		s := v / per
		require.Greater(t, v, last[s], "sender %d's values run in the order sent", s)
		last[s] = v
	}
	for v := range senders * per {
		require.Equal(t, 1, seen[v], "value %d runs exactly once", v)
	}
}

// SendWait returns after its value has run, not before, for a deferred
// delivery and for an IPI.
// (The explorer's queue/send-wait catches queue-head-before-handler
// exactly; this test shows it on the real scheduler.)
// Mutants caught: none.
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
// Mutants caught: none.
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
// Mutants caught: none.
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
// Mutants caught: none.
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
