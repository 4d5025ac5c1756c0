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

// Defer to a CPU in user mode is deferred, with no IPI: the work runs once,
// at the next KernelEnter, and the statistics count it.
// Mutants caught: none.
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

// Defer to a CPU in the kernel sends an IPI, which the next Poll runs,
// exactly once, and the statistics count.
// Mutants caught: none.
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

// TestIPILandsInUserMode provokes the inherent race: the sender sees the
// CPU in the kernel, the CPU returns to user mode, and the IPI is handled at
// a user-mode Poll. It must be counted, and the work must still run once.
// Mutants caught: none.
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

// DeferWait to an owner that moves between user and kernel mode returns
// after the work has run, exactly once per wait, whichever way it was
// delivered.
// Mutants caught: none.
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

// RemoteSafe work sent to a parked CPU runs on the sender's behalf,
// synchronously, without waking the owner.
// Mutants caught: none.
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

// DeferWait to a CPU in the kernel that never polls ends with ErrIPITimeout,
// saying what the CPU was doing; the IPI still runs at the next Poll.
// Mutants caught: none.
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

// TestExactlyOnceTwoSenders: two pinned workers move between user, kernel
// and idle while two senders deliver numbered items synchronously; every
// item runs exactly once, on its target, after it was sent.
// Mutants caught: none.
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

// Send waits for an IPI to run, and not for a deferred delivery: to a CPU in
// user mode it returns at once, and the work runs at the next kernel entry.
// Mutants caught: none.
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
// Mutants caught: none.
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

// A CPU claimed with AlwaysIPI gets every delivery as an IPI, even in user
// mode.
// Mutant caught: fast-path-ignores-policy.
func TestAlwaysIPIInUserMode(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, 0, ctdefer.AlwaysIPI())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w), "AlwaysIPI: an IPI, not a deferral")
	snap, err := d.Snapshot(0)
	require.NoError(t, err)
	require.Zero(t, snap.Work(), "no work bit set in the word of an AlwaysIPI CPU")
	o.do(func(c *ctdefer.CPU) { require.True(t, c.Poll(), "the IPI interrupts user mode at a poll") })
	require.Equal(t, 1, cnt.get(0))
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, cnt.get(0), "and runs once")
}

// Item 10: every phase of a wait honours ctx, the spin phase included.
// Mutants caught: none.
func TestWaitHonoursContextWhileSpinning(t *testing.T) {
	d := edgeDomain(t, func(o *ctdefer.Options) { o.SpinWait = 10 * time.Second })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_ = startOwner(t, d, 0) // in the kernel, never polls while the test waits
	for name, call := range map[string]func(context.Context) error{
		"DeferWait": func(ctx context.Context) error { return d.DeferWait(ctx, 0, w) },
		"IPI":       func(ctx context.Context) error { return d.IPI(ctx, 0, w) },
		"Send":      func(ctx context.Context) error { _, err := d.Send(ctx, 0, w); return err },
	} {
		start := time.Now()
		err := call(ctxWithin(t, 50*time.Millisecond))
		// The old code returned after the whole 10 s spin; anything near
		// 50 ms passes, and 5 s leaves room for a very busy machine.
		require.Less(t, time.Since(start), 5*time.Second, "%s spun past its context", name)
		require.ErrorIs(t, err, context.DeadlineExceeded, name)

		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start = time.Now()
		err = call(ctx)
		require.Less(t, time.Since(start), 5*time.Second, "%s spun past its cancellation", name)
		require.ErrorIs(t, err, context.Canceled, name)
	}
}

// Item 11: the caller's deadline gives context.DeadlineExceeded; the
// library's own IPITimeout gives ErrIPITimeout; each names its method.
// Mutants caught: none.
func TestWaitErrorsNameTheirCause(t *testing.T) {
	d := edgeDomain(t, func(o *ctdefer.Options) { o.IPITimeout = 20 * time.Millisecond })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_ = startOwner(t, d, 0) // in the kernel, never polls while the test waits
	calls := map[string]func(context.Context) error{
		"DeferWait": func(ctx context.Context) error { return d.DeferWait(ctx, 0, w) },
		"IPI":       func(ctx context.Context) error { return d.IPI(ctx, 0, w) },
		"Send":      func(ctx context.Context) error { _, err := d.Send(ctx, 0, w); return err },
	}
	for name, call := range calls {
		err := call(ctxWithin(t, 10*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded, "%s: the caller's deadline", name)
		require.NotErrorIs(t, err, ctdefer.ErrIPITimeout, name)
		require.Contains(t, err.Error(), "ctdefer: "+name+"(", "the error names the method")

		err = call(context.Background())
		require.ErrorIs(t, err, ctdefer.ErrIPITimeout, "%s: the library's own timeout", name)
		require.NotErrorIs(t, err, context.DeadlineExceeded, name)
		require.Contains(t, err.Error(), "ctdefer: "+name+"(", "the error names the method")
	}
}
