package ctdefer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

func TestDeferToUserIsDeferred(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })

	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, cpus[0], w, "Defer to a CPU in user mode"))
	require.Equal(t, 0, cnt.get(cpus[0]), "deferred work must not run before the kernel entry")
	st := cpuStats(d, cpus[0])
	require.Zero(t, st.IPIs, "a CPU in user mode gets no IPI: %v", st)

	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]), "KernelEnter runs the deferred work once")
	st = cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.Deferred, "stats: %v", st)
	require.Equal(t, uint64(1), st.Drains, "stats: %v", st)
	require.Equal(t, uint64(1), st.Executed, "stats: %v", st)

	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]), "no second execution at the next entry")
}

func TestDeferToKernelSendsIPI(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())

	require.Equal(t, ctdefer.IPI, requireDefer(t, d, cpus[0], w, "Defer to a CPU in the kernel"))
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.IPIs, "stats: %v", st)
	require.Equal(t, 0, cnt.get(cpus[0]), "the IPI waits for a poll point")
	var handled bool
	o.do(func(c *ctdefer.CPU) { handled = c.Poll() })
	require.True(t, handled, "Poll reports the IPI it handled")
	require.Equal(t, 1, cnt.get(cpus[0]), "Poll runs the IPI")
	o.do(func(c *ctdefer.CPU) { c.Poll(); c.UserEnter(); c.KernelEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]), "exactly once")
	st = cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.IPIRuns, "stats: %v", st)
	require.Zero(t, st.Deferred, "stats: %v", st)
	require.Zero(t, st.IPIsInUser, "stats: %v", st)
}

func TestUserEnterHandlesPendingIPIs(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())
	requireDefer(t, d, cpus[0], w, "IPI to a CPU in the kernel")
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]), "UserEnter handles pending IPIs before returning to user")
	st := cpuStats(d, cpus[0])
	require.Zero(t, st.IPIsInUser, "handled in kernel mode: %v", st)
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
}

// TestIPILandsInUserMode provokes the inherent race: the sender sees the
// CPU in the kernel, the CPU returns to user mode, and the IPI is handled at
// a user-mode Poll. It must be counted, and the work must still run once.
func TestIPILandsInUserMode(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())
	stop := stopAtCleanup(t)
	loop := o.userKernelLoop(stop, 50)
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		require.NoError(t, d.DeferWait(context.Background(), cpus[0], w))
		sent++
		if st := cpuStats(d, cpus[0]); st.IPIsInUser > 0 && sent >= 100 {
			break
		}
	}
	stop.Store(true)
	<-loop
	st := cpuStats(d, cpus[0])
	require.NotZero(t, st.IPIsInUser, "the race was never observed in %d deliveries: %v", sent, st)
	require.Equal(t, sent, cnt.get(cpus[0]), "every delivery ran exactly once")
	require.Equal(t, uint64(sent), st.Executed, "stats: %v", st)
	t.Logf("%d deliveries: %v", sent, st)
}

func TestDeferWaitDeferredAndIPI(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())

	stop := stopAtCleanup(t)
	loop := o.userKernelLoop(stop, 100)
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		require.NoError(t, d.DeferWait(ctx, cpus[0], w), "DeferWait #%d", i)
		cancel()
		require.Equal(t, i+1, cnt.get(cpus[0]), "DeferWait returns after the run, exactly once per wait")
	}
	stop.Store(true)
	<-loop
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(200), st.Executed, "stats: %v", st)
	t.Logf("200 synchronous deliveries: %v", st)
}

func TestIdleWakesOnIPI(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())

	var idleErr error
	parked := o.async(func(c *ctdefer.CPU) { idleErr = c.Idle(context.Background()) })
	waitState(t, d, cpus[0], ctseq.Idle)
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, cpus[0], w, "Defer to a parked CPU"))
	select {
	case <-parked:
	case <-time.After(5 * time.Second):
		t.Fatal("a parked CPU was not woken by an IPI")
	}
	require.NoError(t, idleErr, "Idle returns nil after a wake-up")
	require.Equal(t, 1, cnt.get(cpus[0]), "the IPI ran on waking")
}

func TestIdleReturnsOnContext(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	o := startOwner(t, d, cpus[0])
	var idleErr error
	o.do(func(c *ctdefer.CPU) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		idleErr = c.Idle(ctx)
		require.Equal(t, ctseq.Kernel, c.State(), "Idle returns in kernel mode")
	})
	require.ErrorIs(t, idleErr, context.DeadlineExceeded, "Idle ends with its context")
}

func TestRemoteSafeRunsOnBehalfOfParkedCPU(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler, ctdefer.RemoteSafe())
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var idleErr error
	parked := o.async(func(c *ctdefer.CPU) { idleErr = c.Idle(ctx) })
	waitState(t, d, cpus[0], ctseq.Idle)
	require.NoError(t, d.DeferWait(context.Background(), cpus[0], w), "DeferWait to a parked CPU")
	require.Equal(t, 1, cnt.get(cpus[0]), "run on behalf, synchronously")
	select {
	case <-parked:
		t.Fatal("the parked CPU was woken although its work was run on its behalf")
	case <-time.After(20 * time.Millisecond):
	}
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.OnBehalf, "stats: %v", st)
	require.Zero(t, st.IPIs, "stats: %v", st)
	cancel()
	<-parked
	require.ErrorIs(t, idleErr, context.Canceled)
}

func TestDeferWaitTimesOutOnStuckCPU(t *testing.T) {
	cpus := twoCPUs(t)
	opts := testOptions()
	opts.IPITimeout = 30 * time.Millisecond
	d := newDomain(t, opts)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])

	err = d.DeferWait(context.Background(), cpus[0], w)
	require.ErrorIs(t, err, ctdefer.ErrIPITimeout, "a CPU in the kernel that never polls")
	require.Contains(t, err.Error(), "stuck in kernel", "the error says what the CPU was doing")
	require.Contains(t, err.Error(), "CPU", "the error names the CPU")
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.Equal(t, 1, cnt.get(cpus[0]), "the timed-out work is still delivered, once")
}

// A synchronous delivery to a CPU no worker holds says so: at once when
// its context has no deadline (no claim may ever come), after the deadline
// otherwise. Either way the work stays posted, and the next owner runs it.
// Mutant caught: unclaimed-wait-without-deadline.
func TestDeferWaitToUnclaimedCPU(t *testing.T) {
	cpus := twoCPUs(t)
	opts := testOptions()
	d := newDomain(t, opts)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"DeferWait": func() error { return d.DeferWait(context.Background(), cpus[1], w) },
		"Send":      func() error { _, err := d.Send(context.Background(), cpus[1], w); return err },
		"IPI":       func() error { return d.IPI(context.Background(), cpus[1], w) },
	} {
		var err error
		within(t, name+" to an unclaimed CPU without a deadline", func() { err = call() })
		require.ErrorIs(t, err, ctdefer.ErrNotClaimed, name)
		require.NotErrorIs(t, err, ctdefer.ErrIPITimeout, name)
		require.Contains(t, err.Error(), fmt.Sprintf("CPU %d has no worker", cpus[1]), name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = d.DeferWait(ctx, cpus[1], w)
	require.ErrorIs(t, err, context.DeadlineExceeded, "with a deadline it waits for a claim")
	require.ErrorIs(t, err, ctdefer.ErrNotClaimed, "and says why nothing ran")
	require.Contains(t, err.Error(), "no worker has claimed it")

	require.Zero(t, cnt.get(cpus[1]), "nothing ran yet")
	o := startOwner(t, d, cpus[1])
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.Equal(t, 1, cnt.get(cpus[1]), "the posted work (merged: one pending bit) runs once a worker claims the CPU")
}

func TestReleaseRunsPendingWork(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	requireDefer(t, d, cpus[0], w, "deferred while in user")
	o.stop() // Release from user mode
	require.NoError(t, o.err, "Release")
	require.Equal(t, 1, cnt.get(cpus[0]), "Release runs deferred work")

	// Work sent to the released CPU waits in its mailbox for the next Claim.
	requireDefer(t, d, cpus[0], w)
	require.Equal(t, 1, cnt.get(cpus[0]))
	o2 := startOwner(t, d, cpus[0])
	require.Equal(t, 2, cnt.get(cpus[0]), "Claim runs IPIs posted while the CPU was free")
	o2.stop()
}

func TestCloseRefusesAndHandsBack(t *testing.T) {
	cpus := twoCPUs(t)
	d, err := ctdefer.New(testOptions())
	require.NoError(t, err)
	plain := newCounter()
	safe := newCounter()
	wp, err := d.Register("plain", plain.handler)
	require.NoError(t, err)
	ws, err := d.Register("safe", safe.handler, ctdefer.RemoteSafe())
	require.NoError(t, err)

	o := startOwner(t, d, cpus[0])
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	requireDefer(t, d, cpus[0], wp, "deferred to a live CPU")
	requireDefer(t, d, cpus[1], wp, "IPI to a CPU nobody claimed")
	requireDefer(t, d, cpus[1], ws, "remote-safe IPI to a CPU nobody claimed")

	// A synchronous delivery of work that Close will hand back.
	waitErr := make(chan error)
	go func() { waitErr <- d.DeferWait(ctxWithin(t, hangLimit), cpus[1], wp) }() // a deadline: wait for a claim (or Close)
	require.Eventually(t, func() bool { st := cpuStats(d, cpus[1]); return st.IPIs == 3 }, time.Second, time.Millisecond)

	closed := make(chan error)
	go func() { closed <- d.Close(context.Background()) }()
	require.Eventually(t, d.Closed, time.Second, time.Millisecond)
	requireDeferErr(t, d, cpus[0], wp, ctdefer.ErrClosed, "Defer after Close")
	_, err = d.Claim(cpus[1])
	require.ErrorIs(t, err, ctdefer.ErrClosed, "Claim after Close")
	o.stop() // the worker sees Closing and releases: its deferred work runs
	err = <-closed
	require.Equal(t, 1, plain.get(cpus[0]), "the live CPU ran its deferred work at Release")
	require.Equal(t, 1, safe.get(cpus[1]), "Close ran the remote-safe IPI on behalf of the free CPU")
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, err, &ue, "Close hands back the rest")
	require.ErrorIs(t, err, ctdefer.ErrClosed)
	require.Len(t, ue.Pending, 1)
	require.Equal(t, cpus[1], ue.Pending[0].CPU)
	require.Equal(t, "plain", ue.Pending[0].Work.String())
	require.Equal(t, 0, plain.get(cpus[1]), "handed back, not run")
	require.ErrorIs(t, <-waitErr, ctdefer.ErrClosed, "DeferWait of work Close handed back")
	require.ErrorIs(t, d.Close(context.Background()), ctdefer.ErrClosed, "second Close")
}

func TestCloseWakesParkedCPU(t *testing.T) {
	cpus := twoCPUs(t)
	d, err := ctdefer.New(testOptions())
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	var idleErr error
	parked := o.async(func(c *ctdefer.CPU) { idleErr = c.Idle(context.Background()) })
	waitState(t, d, cpus[0], ctseq.Idle)
	closed := make(chan error)
	go func() { closed <- d.Close(context.Background()) }()
	<-parked
	require.ErrorIs(t, idleErr, ctdefer.ErrClosed, "Idle returns ErrClosed when the domain closes")
	o.stop()
	require.NoError(t, <-closed)
}

func TestCloseTimesOutNamingClaimedCPUs(t *testing.T) {
	cpus := twoCPUs(t)
	d, err := ctdefer.New(testOptions())
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = d.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "still claimed")
	o.stop()
}

func TestFlushOnEntryRunsEveryWork(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	a, b := newCounter(), newCounter()
	wa, err := d.Register("a", a.handler)
	require.NoError(t, err)
	_, err = d.Register("b", b.handler)
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0], ctdefer.FlushOnEntry())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	requireDefer(t, d, cpus[0], wa)
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, a.get(cpus[0]), "the deferred work ran")
	require.Equal(t, 1, b.get(cpus[0]), "FlushOnEntry runs every registered work")
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() })
	require.Equal(t, 2, b.get(cpus[0]), "at every entry")
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(2), st.Flushes, "stats: %v", st)
	require.Zero(t, st.IPIs, "stats: %v", st)
}

// TestExactlyOnceTwoSenders: two pinned workers move between user, kernel
// and idle while two senders deliver numbered items synchronously; every
// item runs exactly once, on its target, after it was sent.
func TestExactlyOnceTwoSenders(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	items := 3000
	if testing.Short() || raceEnabled {
		items = 500
	}
	// One work per (sender, cpu), so each has at most one delivery in
	// flight and every run can be attributed.
	type key struct{ sender, cpu int }
	var (
		mu      sync.Mutex
		want    = map[key]int{} // item number in flight; written before Defer
		runs    = map[key]int{}
		wrongly int
	)
	works := map[key]ctdefer.Work{}
	for s := range 2 {
		for _, cpu := range cpus {
			k := key{s, cpu}
			w, err := d.Register(fmt.Sprintf("item-%d-%d", s, cpu), func(on int) {
				mu.Lock()
				defer mu.Unlock()
				if on != k.cpu {
					wrongly++
				}
				runs[k]++
				if runs[k] != want[k] {
					wrongly++
				}
			})
			require.NoError(t, err)
			works[k] = w
		}
	}
	stop := stopAtCleanup(t)
	var owners sync.WaitGroup
	for i, cpu := range cpus {
		owners.Add(1)
		go func() {
			defer owners.Done()
			c, err := d.Claim(cpu)
			if err != nil {
				t.Errorf("Claim(%d): %v", cpu, err)
				return
			}
			defer c.Release()
			for n := 0; !stop.Load(); n++ {
				c.UserEnter()
				for range n % 7 {
					c.Poll()
				}
				c.KernelEnter()
				c.Poll()
				if (n+i)%50 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Microsecond)
					_ = c.Idle(ctx)
					cancel()
				}
			}
		}()
	}
	var senders sync.WaitGroup
	for s := range 2 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for n := 1; n <= items; n++ {
				cpu := cpus[n%2]
				k := key{s, cpu}
				mu.Lock()
				want[k]++
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := d.DeferWait(ctx, cpu, works[k])
				cancel()
				if err != nil {
					t.Errorf("DeferWait item %d: %v", n, err)
					return
				}
			}
		}()
	}
	senders.Wait()
	stop.Store(true)
	owners.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for k, n := range runs {
		require.Equal(t, want[k], n, "runs of %v", k)
		total += n
	}
	require.Equal(t, 2*items, total, "every item ran")
	require.Zero(t, wrongly, "runs on the wrong CPU, twice, or before being sent")
	st := d.Stats()
	require.Equal(t, uint64(2*items), st.Executed, "stats: %v", st)
	t.Logf("%d items: %v", 2*items, st)
}

func waitState(t testing.TB, d *ctdefer.Domain, cpu int, want ctseq.State) {
	t.Helper()
	require.Eventually(t, func() bool { return d.State(cpu) == want },
		5*time.Second, 50*time.Microsecond, "CPU %d never reached %v", cpu, want)
}

func TestSendWaitsOnlyForIPIs(t *testing.T) {
	opts := testOptions()
	opts.IPITimeout = 5 * time.Second
	cpus, d, cnt, w, o := countingOwner(t, opts)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	start := time.Now()
	how, err := d.Send(context.Background(), cpus[0], w)
	require.NoError(t, err)
	require.Equal(t, ctdefer.Deferred, how, "the CPU is in user mode")
	require.Less(t, time.Since(start), time.Second, "Send does not wait for a deferred delivery")
	require.Equal(t, 0, cnt.get(cpus[0]), "not run yet: it runs at the next kernel entry")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]))

	stop := stopAtCleanup(t)
	loop := o.async(func(c *ctdefer.CPU) {
		for !stop.Load() {
			c.Poll()
		}
	})
	how, err = d.Send(context.Background(), cpus[0], w)
	require.NoError(t, err)
	require.Equal(t, ctdefer.IPI, how, "the CPU is in the kernel")
	require.Equal(t, 2, cnt.get(cpus[0]), "Send returned after the IPI ran")
	stop.Store(true)
	<-loop
}

// A handler run on behalf of a parked CPU is that CPU's kernel-mode code:
// while it runs the CPU's word shows Kernel, so a grace period or a barrier
// that looks at the word waits for it; afterwards the CPU is idle again.
func TestOnBehalfShowsKernelStretch(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	var during ctseq.State
	var snapDuring ctseq.Snapshot
	w, err := d.Register("observe", func(cpu int) {
		during = d.State(cpu)
		snapDuring, _ = d.Snapshot(cpu)
	}, ctdefer.RemoteSafe())
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	ctx, cancel := context.WithCancel(context.Background())
	parked := o.async(func(c *ctdefer.CPU) { _ = c.Idle(ctx) })
	waitState(t, d, cpus[0], ctseq.Idle)
	before, _ := d.Snapshot(cpus[0])
	require.Equal(t, ctdefer.OnBehalf, requireDefer(t, d, cpus[0], w))
	require.Equal(t, ctseq.Kernel, during, "during the borrowed run the CPU is in a kernel stretch")
	require.False(t, snapDuring.Quiescent(), "a snapshot taken during the run is not quiescent")
	after, _ := d.Snapshot(cpus[0])
	require.Equal(t, ctseq.Idle, after.State(), "idle again after the run")
	require.Equal(t, (before.Seq()+2)&ctseq.SeqMask, after.Seq(), "two transitions: IdleExit and IdleEnter")
	cancel()
	<-parked
}
