package grace_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// Every CPU in user mode or idle: the grace period completes inside Start
// (which drives: nothing else does here), with one snapshot round and no
// nudge. The owners stay put for the whole test by construction: one sleeps
// in user mode, the other is parked in a single Idle call (ownerWith waits
// until its word says Idle), so no scan can find either in the kernel.
// Mutants caught: none.
func TestSynchronizeUserIdle(t *testing.T) {
	f := newFixture(t, 2, grace.Options{NudgeAfter: time.Nanosecond})
	f.ownerWith(f.cpus[0], modeUser)
	f.ownerWith(f.cpus[1], modeIdle)
	tok := f.g.Start()
	require.True(t, f.g.Completed(tok), "grace period over user/idle CPUs not complete after Start")
	require.NoError(t, f.g.Synchronize(ctxFor(t, 5*time.Second)), "Synchronize")
	st := f.g.Stats()
	require.Equal(t, uint64(2), st.GracePeriods, "one grace period per call: %+v", st)
	require.Equal(t, uint64(0), st.Nudges, "no CPU is in the kernel: %+v", st)
	require.Equal(t, uint64(0), f.d.Stats().IPIs, "no IPI to user or idle CPUs")
	require.Equal(t, uint64(0), f.d.Stats().OnBehalf, "no work run on behalf of the idle CPU")
}

// A CPU in a kernel stretch holds the grace period until it leaves.
// Mutant caught: grace-fast-path-ignores-pending.
func TestSynchronizeWaitsForKernelStretch(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(f.cpus[0], modeKernel)
	done := make(chan error, 1)
	go func() { done <- f.g.Synchronize(ctxFor(t, 10*time.Second)) }()
	select {
	case err := <-done:
		t.Fatalf("Synchronize returned (%v) while the CPU is still in its kernel stretch", err)
	case <-time.After(30 * time.Millisecond):
	}
	sb.set(t, modeUser)
	require.NoError(t, <-done, "Synchronize after the CPU left the kernel")
}

// A transition is a quiescent state; so is Quiesce.
// Mutants caught: none.
func TestPollTransitionAndQuiesce(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	quiesce := make(chan struct{})
	quiesced := make(chan struct{})
	f.owner(f.cpus[0], func(c *ctdefer.CPU) {
		<-quiesce
		f.g.Quiesce(c)
		close(quiesced)
		<-quiesce
	})
	require.True(t, f.g.Poll(grace.Token{}), "the zero Token is complete")
	tok := f.g.Start()
	require.False(t, f.g.Poll(tok), "complete while the CPU is in the kernel since Claim")
	require.False(t, f.g.Poll(tok), "complete on the second poll")
	quiesce <- struct{}{}
	<-quiesced
	require.True(t, f.g.Poll(tok), "not complete after Quiesce")
	close(quiesce)
}

// A CPU in a long kernel stretch that calls Checkpoint is nudged and
// reports.
// Mutants caught: none.
func TestSynchronizeNudgeCheckpoint(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: 100 * time.Microsecond})
	f.ownerWith(f.cpus[0], modeKernelCheckpoint)
	for range 10 {
		require.NoError(t, f.g.Synchronize(ctxFor(t, 5*time.Second)), "Synchronize")
	}
	st := f.g.Stats()
	require.GreaterOrEqual(t, st.Nudges, uint64(1), "no nudge: %+v", st)
	require.GreaterOrEqual(t, st.Reports, uint64(1), "no report: %+v", st)
	require.Equal(t, uint64(10), st.GracePeriods, "%+v", st)
}

// A CPU that polls but never reports, and one that does not even poll,
// make Synchronize fail when its context ends, naming them.
// Mutants caught: none.
func TestSynchronizeStall(t *testing.T) {
	for _, tc := range []struct {
		mode    int32
		handled bool
	}{{modeKernelPoll, true}, {modeKernel, false}} {
		t.Run(fmt.Sprint("handled=", tc.handled), func(t *testing.T) {
			f := newFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond})
			cpu := f.cpus[0]
			sb := f.ownerWith(cpu, tc.mode)
			err := f.g.Synchronize(ctxFor(t, 50*time.Millisecond))
			require.ErrorAs(t, err, new(*grace.StallError), "Synchronize over a stuck CPU")
			require.ErrorIs(t, err, context.DeadlineExceeded, "the context's error is wrapped")
			var se *grace.StallError
			require.ErrorAs(t, err, &se)
			require.Len(t, se.CPUs, 1, "one CPU holds it up: %v", err)
			c := se.CPUs[0]
			require.Equal(t, cpu, c.CPU, "%v", err)
			require.True(t, c.Nudged, "nudged: %v", err)
			require.Equal(t, tc.handled, c.Handled, "nudge handled: %v", err)
			require.Equal(t, c.SnapSeq, c.Seq, "no transition: %v", err)
			require.Contains(t, err.Error(), fmt.Sprintf("CPU %d (in kernel", cpu))
			t.Log(err)
			sb.set(t, modeUser) // the grace period completes now
			require.NoError(t, f.g.Synchronize(ctxFor(t, 5*time.Second)), "Synchronize after the CPU left")
		})
	}
}

// Concurrent callers share grace periods: N callers that arrive while one
// is in progress are served by the next one. Each caller does what
// Synchronize does (Wait on a fresh Start), split in two so the test knows
// every caller has asked before the stuck CPU moves: a sleep would not, on
// a loaded machine.
// Mutants caught: none.
func TestSynchronizeBatching(t *testing.T) {
	const callers = 64
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(f.cpus[0], modeKernel)
	var asked, wg sync.WaitGroup
	var returned atomic.Int32
	for range callers {
		asked.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := f.g.Start()
			asked.Done()
			if err := f.g.Wait(ctxFor(t, 10*time.Second), tok); err != nil {
				t.Errorf("Wait: %v", err)
			}
			returned.Add(1)
		}()
	}
	asked.Wait() // every caller has asked for a grace period
	require.Zero(t, returned.Load(), "a caller returned while the CPU is in its kernel stretch")
	sb.set(t, modeUser)
	wg.Wait()
	st := f.g.Stats()
	t.Logf("%d concurrent callers: %d grace periods (%d snapshot rounds)", callers, st.GracePeriods, st.Started)
	require.LessOrEqual(t, st.Started, uint64(2), "callers did not share grace periods: %+v", st)
}

// Retire runs after the grace period, in order; Barrier waits for it.
// Mutants caught: none.
func TestRetireAfterGracePeriod(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(f.cpus[0], modeKernel)
	var ran []int
	var mu sync.Mutex
	for i := range 5 {
		require.NoError(t, f.g.Retire(func() { mu.Lock(); ran = append(ran, i); mu.Unlock() }), "Retire")
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	require.Empty(t, ran, "retired functions ran while the CPU is in its kernel stretch")
	mu.Unlock()
	err := f.g.Barrier(ctxFor(t, 10*time.Millisecond))
	require.ErrorAs(t, err, new(*grace.StallError), "Barrier over a stuck CPU")
	sb.set(t, modeUser)
	require.NoError(t, f.g.Barrier(ctxFor(t, 5*time.Second)), "Barrier")
	require.Equal(t, []int{0, 1, 2, 3, 4}, ran, "run once each, in Retire order")
	st := f.g.Stats()
	require.Equal(t, uint64(5), st.Reclaimed, "%+v", st)
	require.Zero(t, st.Pending, "%+v", st)
}

// At MaxPending, TryRetire refuses and Retire blocks until a batch has run.
// Mutants caught: none.
func TestRetireBound(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1, MaxPending: 2})
	sb := f.ownerWith(f.cpus[0], modeKernel)
	var n atomic.Int32
	inc := func() { n.Add(1) }
	require.NoError(t, f.g.Retire(inc))
	require.NoError(t, f.g.TryRetire(inc))
	require.ErrorIs(t, f.g.TryRetire(inc), grace.ErrBacklog, "TryRetire at the bound")
	blocked := make(chan error, 1)
	go func() { blocked <- f.g.Retire(inc) }()
	select {
	case err := <-blocked:
		t.Fatalf("Retire at the bound returned (%v) before a grace period", err)
	case <-time.After(20 * time.Millisecond):
	}
	sb.set(t, modeUser)
	require.NoError(t, <-blocked, "blocked Retire")
	require.NoError(t, f.g.Barrier(ctxFor(t, 5*time.Second)))
	require.Equal(t, int32(3), n.Load(), "each retired function ran once")
}

// Close drains what is pending; afterwards Retire fails.
// Mutants caught: none.
func TestCloseDrains(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	f.ownerWith(f.cpus[0], modeUser)
	var n atomic.Int32
	for range 100 {
		require.NoError(t, f.g.Retire(func() { n.Add(1) }))
	}
	require.NoError(t, f.g.Close(ctxFor(t, 5*time.Second)), "Close")
	require.Equal(t, int32(100), n.Load(), "Close ran everything retired")
	require.ErrorIs(t, f.g.Retire(func() {}), ctdefer.ErrClosed, "Retire after Close")
	require.ErrorIs(t, f.g.Close(context.Background()), ctdefer.ErrClosed, "second Close")
	require.NoError(t, f.g.Synchronize(ctxFor(t, 5*time.Second)), "Synchronize after Close")
}

// Close whose context ends drops the functions it could not run, naming
// the CPU; they never run.
// Mutants caught: none.
func TestCloseTimeoutDrops(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(f.cpus[0], modeKernel)
	var n atomic.Int32
	for range 3 {
		require.NoError(t, f.g.Retire(func() { n.Add(1) }))
	}
	err := f.g.Close(ctxFor(t, 20*time.Millisecond))
	require.ErrorAs(t, err, new(*grace.StallError), "Close over a stuck CPU")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "3 retired callbacks dropped")
	require.Contains(t, err.Error(), fmt.Sprintf("CPU %d", f.cpus[0]))
	sb.set(t, modeUser)
	require.Zero(t, n.Load(), "a dropped function ran")
	require.Error(t, f.g.Barrier(context.Background()), "Barrier after a failed Close")
}

// The expedited barrier skips CPUs in user mode or idle, and IPIs those in
// the kernel, which answer at their next poll point. The user and idle
// owners stay put while the first barrier runs (see TestSynchronizeUserIdle).
// Mutants caught: none.
func TestExpeditedBarrier(t *testing.T) {
	f := newFixture(t, 2, grace.Options{})
	a := f.ownerWith(f.cpus[0], modeUser)
	f.ownerWith(f.cpus[1], modeIdle)
	require.NoError(t, f.g.ExpeditedBarrier(ctxFor(t, 5*time.Second)))
	require.Equal(t, uint64(0), f.g.Stats().BarrierIPIs, "an IPI to a user or idle CPU")
	require.Equal(t, uint64(0), f.d.Stats().IPIs, "an IPI to a user or idle CPU")

	a.set(t, modeKernelPoll)
	require.NoError(t, f.g.ExpeditedBarrier(ctxFor(t, 5*time.Second)))
	require.Equal(t, uint64(1), f.g.Stats().BarrierIPIs, "one IPI to the kernel CPU")

	a.set(t, modeKernel) // never polls
	err := f.g.ExpeditedBarrier(ctxFor(t, 20*time.Millisecond))
	require.ErrorAs(t, err, new(*grace.StallError))
	require.Contains(t, err.Error(), fmt.Sprintf("CPU %d (in kernel", f.cpus[0]))
	var se *grace.StallError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.CPUs, 1, "%v", err)
	require.True(t, se.CPUs[0].Nudged, "the IPI was posted: %v", err)
	require.False(t, se.CPUs[0].Handled, "%v", err)
	a.set(t, modeUser)
}

// While the ctdefer.Domain closes, Defer refuses every IPI, but an owner may
// still be inside its kernel stretch (it has not looked at Closing yet): the
// barrier must keep waiting for it, without an IPI, until it makes a
// transition or releases the CPU, and report it if its context ends first.
// Mutants caught: none.
func TestExpeditedBarrierDuringClose(t *testing.T) {
	for _, leave := range []string{"transition", "release"} {
		t.Run(leave, func(t *testing.T) {
			f := newFixture(t, 1, grace.Options{})
			cpu := f.cpus[0]
			var exit atomic.Bool
			spinning, inUser, hold := make(chan struct{}), make(chan struct{}), make(chan struct{})
			f.owner(cpu, func(c *ctdefer.CPU) {
				close(spinning)
				for !exit.Load() { // a kernel stretch without poll points, deaf to Closing
					runtime.Gosched()
				}
				if leave == "transition" {
					c.UserEnter()
					close(inUser)
					<-hold // stay claimed, in user mode
				}
			}) // then Release
			<-spinning
			closed := make(chan error, 1)
			go func() { closed <- f.d.Close(ctxFor(t, 10*time.Second)) }()
			require.Eventually(t, corelink.Of[ctdefer.CPU](f.d).Closed, 5*time.Second, 10*time.Microsecond, "Close never began")

			err := f.g.ExpeditedBarrier(ctxFor(t, 20*time.Millisecond))
			require.ErrorAs(t, err, new(*grace.StallError), "a barrier over a CPU in its stretch during Close")
			var se *grace.StallError
			require.ErrorAs(t, err, &se)
			require.Len(t, se.CPUs, 1, "%v", err)
			require.Equal(t, cpu, se.CPUs[0].CPU, "%v", err)
			require.False(t, se.CPUs[0].Nudged, "no IPI can be posted during Close: %v", err)
			require.Contains(t, err.Error(), "closing")
			t.Log(err)
			require.Zero(t, f.g.Stats().BarrierIPIs, "an IPI posted during Close")

			returned := make(chan error, 1)
			go func() { returned <- f.g.ExpeditedBarrier(ctxFor(t, 10*time.Second)) }()
			select {
			case err := <-returned:
				t.Fatalf("ExpeditedBarrier returned (%v) while the CPU is still in its kernel stretch", err)
			case <-time.After(30 * time.Millisecond):
			}
			exit.Store(true)
			require.NoError(t, <-returned, "ExpeditedBarrier after the CPU's %s", leave)
			if leave == "transition" {
				<-inUser
				select {
				case err := <-closed:
					t.Fatalf("Close returned (%v) before the CPU was released", err)
				default:
				}
				close(hold)
			}
			require.NoError(t, <-closed, "ctdefer Close")
		})
	}
}

// A checkpoint in user mode reports nothing: the CPU is quiescent by its
// state, which the grace period sees without a report.
// Mutants caught: none.
func TestCheckpointInUserMode(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: time.Nanosecond})
	step := make(chan struct{})
	f.owner(f.cpus[0], func(c *ctdefer.CPU) {
		for {
			select {
			case <-step:
				c.UserEnter()
				f.g.Checkpoint(c) // asked is set: the nudge ran at a Poll below
				c.KernelEnter()
				f.g.Checkpoint(c) // nothing asked any more
				<-step
				return
			default:
				c.Poll() // handles the nudge: asked = 1
			}
		}
	})
	err := f.g.Synchronize(ctxFor(t, 20*time.Millisecond))
	var se *grace.StallError
	require.ErrorAs(t, err, &se)
	require.True(t, len(se.CPUs) == 1 && se.CPUs[0].Handled, "the nudge ran at a poll point: %v", err)
	step <- struct{}{}
	step <- struct{}{}
	require.NoError(t, f.g.Synchronize(ctxFor(t, 5*time.Second)))
	st := f.g.Stats()
	require.GreaterOrEqual(t, st.Nudges, uint64(1), "%+v", st)
	require.Zero(t, st.Reports, "a Checkpoint in user mode counted a report: %+v", st)
}

// A retired function may retire more, even at MaxPending (the reclaimer
// would otherwise wait for room that only it can make); Barrier and Close
// from a retired function fail instead of waiting for themselves.
// Mutants caught: none.
func TestRetireFromCallback(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1, MaxPending: 1})
	f.ownerWith(f.cpus[0], modeUser)
	var ran atomic.Int32
	errs := make(chan error, 8)
	leaf := func() { ran.Add(1) }
	require.NoError(t, f.g.Retire(func() {
		ran.Add(1)
		errs <- f.g.Retire(leaf)    // at the bound: this batch is not counted as run yet
		errs <- f.g.Retire(func() { // past the bound
			ran.Add(1)
			errs <- f.g.Retire(leaf) // from the next batch, at the bound again
		})
		errs <- f.g.TryRetire(leaf) // never blocks, never exceeds the bound
		bErr := f.g.Barrier(context.Background())
		if !errors.Is(bErr, ctdefer.ErrWouldDeadlock) {
			errs <- fmt.Errorf("Barrier from a callback: %w", bErr)
		}
		cErr := f.g.Close(context.Background())
		if !errors.Is(cErr, ctdefer.ErrWouldDeadlock) {
			errs <- fmt.Errorf("Close from a callback: %w", cErr)
		}
	}))
	require.Eventually(t, func() bool { return ran.Load() == 4 }, 5*time.Second, 100*time.Microsecond,
		"retired functions that retire did not all run: %d of 4 (the reclaimer deadlocked?)", ran.Load())
	require.NoError(t, f.g.Barrier(ctxFor(t, 5*time.Second)))
	require.NoError(t, <-errs, "Retire from a callback at the bound")
	require.NoError(t, <-errs, "Retire from a callback past the bound")
	require.ErrorIs(t, <-errs, grace.ErrBacklog, "TryRetire from a callback past the bound")
	require.NoError(t, <-errs, "Retire from a callback of the next batch")
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	st := f.g.Stats()
	require.Equal(t, uint64(4), st.Retired, "%+v", st)
	require.Equal(t, uint64(4), st.Reclaimed, "%+v", st)
	require.NoError(t, f.g.Retire(leaf), "Close from the callback closed the Domain")
	require.NoError(t, f.g.Close(ctxFor(t, 5*time.Second)))
	require.Equal(t, int32(5), ran.Load())
}

// New after the first Claim cannot register its nudge.
// Mutants caught: none.
func TestNewAfterClaim(t *testing.T) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	require.NoError(t, err)
	c, err := d.Claim(0)
	require.NoError(t, err)
	_, err = grace.New(d, grace.Options{})
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	require.NoError(t, c.Release())
	require.NoError(t, d.Close(context.Background()))
}

// Checkpoint with a CPU of another domain is a programming error.
// Mutants caught: none.
func TestCheckpointWrongDomain(t *testing.T) {
	f := newFixture(t, 1, grace.Options{})
	other, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	require.NoError(t, err)
	c, err := other.Claim(0)
	require.NoError(t, err)
	defer func() {
		require.NoError(t, c.Release())
		require.NoError(t, other.Close(context.Background()))
	}()
	defer func() {
		e := requireMisuse(t, recover(), "Checkpoint", "wrong domain")
		require.Contains(t, e.Error(), "is not a CPU of this grace Domain", "panic value %v", e)
	}()
	f.g.Checkpoint(c)
}

// A *StallError without a CPU unwraps to its cause, and says that no
// CPU was recorded.
// Mutants caught: none.
func TestStallErrorNoCPU(t *testing.T) {
	e := &grace.StallError{Op: "Synchronize", Waited: time.Second, Err: context.Canceled}
	require.ErrorIs(t, e, context.Canceled)
	require.Contains(t, e.Error(), "no CPU recorded")
}
