package ctdefer_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// ReschedLevel's String names each level, and a bad value by its number.
// Mutants caught: none.
func TestReschedLevelString(t *testing.T) {
	require.Equal(t, "none", ctdefer.ReschedNone.String())
	require.Equal(t, "lazy", ctdefer.ReschedLazy.String())
	require.Equal(t, "full", ctdefer.ReschedFull.String())
	require.Equal(t, "ReschedLevel(9)", ctdefer.ReschedLevel(9).String())
}

// Without a request, no preemption point, return to user or tick sees one,
// and ClearResched clears nothing.
// Mutants caught: none.
func TestReschedNothingPending(t *testing.T) {
	_, _, o := reschedOwner(t, testOptions())
	o.do(func(c *ctdefer.CPU) {
		require.False(t, c.NeedResched(), "no request: no preemption")
		require.False(t, c.NeedReschedBeforeUser(), "no request: straight back to user")
		require.False(t, c.Tick(), "a tick without a request promotes nothing")
		require.Equal(t, ctdefer.ReschedNone, c.ClearResched(), "nothing to clear")
	})
}

// A lazy request is not seen at preemption points.
// Mutants caught: none.
func TestReschedLazyHiddenFromPreemptionPoints(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	o.do(func(c *ctdefer.CPU) {
		require.False(t, c.NeedResched(), "a lazy request must not preempt")
		require.False(t, c.NeedResched(), "nor at the next preemption point")
	})
}

// A lazy request is honoured at the return to user.
// Mutants caught: none.
func TestReschedLazyHonouredBeforeUser(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	o.do(func(c *ctdefer.CPU) {
		require.True(t, c.NeedReschedBeforeUser(), "a lazy request is honoured at the return to user")
		require.Equal(t, ctdefer.ReschedLazy, c.ClearResched(), "the level cleared")
		require.False(t, c.NeedReschedBeforeUser(), "cleared")
	})
}

// A tick promotes a lazy request to full, which the next preemption point
// then honours.
// Mutants caught: none.
func TestReschedTickPromotesLazy(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	o.do(func(c *ctdefer.CPU) {
		c.UserEnter() // a long user-mode stretch: no return to user to honour it
		require.False(t, c.NeedResched(), "lazy before the tick")
		require.True(t, c.Tick(), "the tick promotes the lazy request")
		require.True(t, c.NeedResched(), "promoted: the next preemption point honours it")
		require.True(t, c.Tick(), "a second tick finds it full")
		require.Equal(t, ctdefer.ReschedFull, c.ClearResched(), "a promoted request clears as full")
		require.False(t, c.NeedResched(), "cleared")
		require.False(t, c.Tick(), "nothing left to promote")
		c.KernelEnter()
	})
}

// A full request is seen at the next preemption point and at the return to
// user, in kernel and in user mode.
// Mutants caught: none.
func TestReschedFullVisibleAtOnce(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	for _, inUser := range []bool{false, true} {
		if inUser {
			o.do(func(c *ctdefer.CPU) { c.UserEnter() })
		}
		requireResched(t, d, cpu, ctdefer.ReschedFull)
		o.do(func(c *ctdefer.CPU) {
			require.True(t, c.NeedResched(), "a full request is seen at the next preemption point (user mode: %v)", inUser)
			require.True(t, c.NeedReschedBeforeUser(), "and at the return to user")
			require.Equal(t, ctdefer.ReschedFull, c.ClearResched(), "the level cleared")
			require.False(t, c.NeedResched(), "cleared")
		})
	}
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	st := cpuStats(d, cpu)
	require.Zero(t, st.IPIs, "a request to a running CPU sends no IPI: %v", st)
}

// Lazy and full requests merge: one ClearResched takes both and reports the
// strongest.
// Mutants caught: none.
func TestReschedFullAndLazyClearAsFull(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	requireResched(t, d, cpu, ctdefer.ReschedFull)
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	o.do(func(c *ctdefer.CPU) {
		require.Equal(t, ctdefer.ReschedFull, c.ClearResched(), "merged requests clear as the strongest")
		require.False(t, c.NeedReschedBeforeUser(), "one clear takes both levels")
	})
}

// A full request wakes a parked owner, and is still pending when Idle
// returns.
// Mutants caught: none.
func TestReschedFullWakesParkedCPU(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	res := idleAsync(t, d, cpu, o)
	requireResched(t, d, cpu, ctdefer.ReschedFull)
	select {
	case err := <-res:
		require.NoError(t, err, "Idle returns nil when woken by a full request")
	case <-time.After(5 * time.Second):
		require.FailNow(t, "a full request did not wake the parked CPU")
	}
	o.do(func(c *ctdefer.CPU) {
		require.True(t, c.NeedResched(), "the request that woke it is still pending")
		require.Equal(t, ctdefer.ReschedFull, c.ClearResched())
	})
}

// A lazy request leaves a parked owner asleep.
// Mutants caught: none.
func TestReschedLazyLeavesParkedCPUAsleep(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	res := idleAsync(t, d, cpu, o)
	requireResched(t, d, cpu, ctdefer.ReschedLazy)
	select {
	case err := <-res:
		require.FailNow(t, "a lazy request woke the parked CPU", "Idle returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.Equal(t, ctseq.Idle, d.State(cpu), "still parked")
	requireResched(t, d, cpu, ctdefer.ReschedFull) // end the test
	require.NoError(t, <-res, "woken by the full request")
	o.do(func(c *ctdefer.CPU) { c.ClearResched() })
}

// Idle returns at once while a full request is pending: there is nothing to
// wait for.
// Mutants caught: none.
func TestReschedIdleReturnsAtOnceWhileFullPending(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedFull)
	o.do(func(c *ctdefer.CPU) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Idle(ctx), "a pending full request: nothing to wait for")
		require.Equal(t, ctdefer.ReschedFull, c.ClearResched())
	})
}

// A request made to a CPU nobody claimed is the next owner's.
// Mutants caught: none.
func TestReschedUnclaimedCPUWaitsForOwner(t *testing.T) {
	cpu := twoCPUs(t)[0]
	d := newDomain(t, testOptions())
	requireResched(t, d, cpu, ctdefer.ReschedFull)
	o := startOwner(t, d, cpu)
	o.do(func(c *ctdefer.CPU) {
		require.True(t, c.NeedResched(), "a request made before Claim is the next owner's")
		c.ClearResched()
	})
}

// TestReschedPublishesPayload: what the requester wrote before Resched is
// visible to the owner once it sees the request. The owner is already
// polling when the payload is written, so the request word is the only
// synchronisation between them; -race checks it.
// Mutants caught: none.
func TestReschedPublishesPayload(t *testing.T) {
	d, cpu, o := reschedOwner(t, testOptions())
	var payload int
	seen := make(chan int, 1)
	polling := make(chan struct{})
	ran := o.async(func(c *ctdefer.CPU) {
		close(polling)
		for !c.NeedResched() {
		}
		c.ClearResched()
		seen <- payload
	})
	<-polling
	payload = 42
	requireResched(t, d, cpu, ctdefer.ReschedFull)
	require.Equal(t, 42, <-seen, "the payload written before Resched")
	<-ran
}

// Resched refuses a CPU outside the Domain (ErrInvalid), panics on a level
// that is not one request, and refuses everything after Close (ErrClosed).
// Mutants caught: none.
func TestReschedErrors(t *testing.T) {
	cpu := twoCPUs(t)[0]
	d := newDomain(t, testOptions())
	for _, bad := range []int{-1, maxCPU + 1, 1 << 20} {
		err := d.Resched(bad, ctdefer.ReschedFull)
		require.ErrorIs(t, err, ctdefer.ErrInvalid, "Resched(%d)", bad)
	}
	require.PanicsWithValue(t,
		"ctdefer: Domain.Resched(0, none): level must be ReschedLazy or ReschedFull",
		func() { _ = d.Resched(0, ctdefer.ReschedNone) }, "ReschedNone is not a request")
	require.Panics(t, func() { _ = d.Resched(cpu, ctdefer.ReschedLazy|ctdefer.ReschedFull) }, "one level per request")
	require.NoError(t, d.Close(context.Background()))
	require.ErrorIs(t, d.Resched(cpu, ctdefer.ReschedLazy), ctdefer.ErrClosed, "after Close")
}

// Resched, its checks, Tick and ClearResched allocate nothing.
// Mutants caught: none.
func TestReschedZeroAlloc(t *testing.T) {
	opts := testOptions()
	opts.Debug = false
	d, cpu, o := reschedOwner(t, opts)
	o.do(func(c *ctdefer.CPU) {
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			_ = d.Resched(cpu, ctdefer.ReschedLazy)
			_ = c.NeedResched()
			_ = c.NeedReschedBeforeUser()
			_ = c.Tick()
			_ = d.Resched(cpu, ctdefer.ReschedFull)
			_ = c.ClearResched()
			_ = c.ClearResched()
		}), "requests, polls, tick and clear")
	})
}

// TestReschedHammer: full requesters wait for each request to be served
// while lazy requesters fire at will, and the owner cycles through kernel,
// user and idle, ticking now and then. A lost full request (or a lost
// wake-up of the parked owner) shows up as a requester timing out; -race
// checks the owner-only rules.
// Mutants caught: none.
func TestReschedHammer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	d, cpu, o := reschedOwner(t, testOptions())
	var served atomic.Uint64 // reschedules the owner made
	stop := stopAtCleanup(t)
	ownerErr := make(chan error, 1)
	ran := o.async(func(c *ctdefer.CPU) {
		reschedule := func() {
			if c.ClearResched() != ctdefer.ReschedNone {
				served.Add(1) // RMW: the requesters' progress signal
			}
		}
		for i := 0; !stop.Load(); i++ {
			if c.NeedResched() { // preemption point in the kernel
				reschedule()
			}
			if i%5 == 0 && c.Tick() {
				reschedule()
			}
			if i%61 == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := c.Idle(ctx)
				cancel()
				if err != nil {
					ownerErr <- err // a lost wake-up
					return
				}
			}
			if c.NeedReschedBeforeUser() {
				reschedule()
			}
			c.UserEnter()
			if c.NeedResched() { // preemption point in the hot loop
				reschedule()
			}
			c.KernelEnter()
		}
		ownerErr <- nil
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			level := ctdefer.ReschedFull
			if g%2 == 1 {
				level = ctdefer.ReschedLazy
			}
			for r := range rounds {
				before := served.Load()
				if err := d.Resched(cpu, level); err != nil {
					t.Errorf("Resched(%v): %v", level, err)
					return
				}
				if level == ctdefer.ReschedLazy {
					if r%16 == 0 {
						runtime.Gosched()
					}
					continue
				}
				deadline := time.Now().Add(5 * time.Second)
				for served.Load() <= before {
					if time.Now().After(deadline) {
						t.Errorf("full request %d not served in 5s (owner in %v)", r, d.State(cpu))
						return
					}
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	require.NoError(t, d.Resched(cpu, ctdefer.ReschedFull), "wake the owner to stop")
	require.NoError(t, <-ownerErr, "the owner's Idle was never left parked by a full request")
	<-ran
	require.GreaterOrEqual(t, served.Load(), uint64(rounds), "every round of each full requester was served")
}
