package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// recorder is a queue handler that records the values it ran, per CPU.
type recorder struct {
	mu  sync.Mutex
	ran map[int][]int
}

func newRecorder() *recorder { return &recorder{ran: map[int][]int{}} }

func (r *recorder) handle(cpu int, v int) {
	r.mu.Lock()
	r.ran[cpu] = append(r.ran[cpu], v)
	r.mu.Unlock()
}

func (r *recorder) get(cpu int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.ran[cpu]...)
}

// queueOwner is the queue fixture: a Domain with one queue of ints of the
// given capacity, and an owner that has claimed the first CPU.
func queueOwner(t testing.TB, capacity int, ropts ...ctdefer.RegisterOption) (cpus []int, d *ctdefer.Domain, rec *recorder, q *ctdefer.Queue[int], o *owner) {
	t.Helper()
	cpus = twoCPUs(t)
	d = newDomain(t, testOptions())
	rec = newRecorder()
	q, err := ctdefer.NewQueue(d, "values", capacity, rec.handle, ropts...)
	require.NoError(t, err, "NewQueue")
	o = startOwner(t, d, cpus[0])
	return cpus, d, rec, q, o
}

// queueStats returns the queue's entry of d.Stats().Works.
func queueStats(t testing.TB, d *ctdefer.Domain) ctdefer.WorkStats {
	t.Helper()
	for _, w := range d.Stats().Works {
		if w.Name == "values" {
			return w
		}
	}
	t.Fatal("no statistics for the queue's work")
	return ctdefer.WorkStats{}
}

// Values sent to a CPU in user mode run at its next kernel entry, in
// order, once, and not before.
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
// Mutants caught: queue-full-off-by-one, queue-full-checks-first-value.
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
