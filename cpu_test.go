package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/inlinecheck"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// KernelEnter runs the work deferred while the CPU was in user mode first,
// then the IPIs posted meanwhile, as documented: a deferred flush of kernel
// state comes before any kernel-mode code, IPI handlers included. The owner
// is driven step by step; the order is what the handlers recorded.
// Mutant caught: kernelenter-ipis-first.
func TestKernelEnterRunsDeferredWorkBeforeIPIs(t *testing.T) {
	d := edgeDomain(t)
	var mu sync.Mutex
	var order []string
	record := func(name string) func(int) {
		return func(int) { mu.Lock(); order = append(order, name); mu.Unlock() }
	}
	// The IPI's work has the lower bit: an order by bit would run it first.
	ipi, err := d.Register("ipi", record("ipi"))
	require.NoError(t, err)
	deferred, err := d.Register("deferred", record("deferred"))
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, deferred))
	sent := make(chan error, 1)
	go func() { sent <- d.IPI(context.Background(), 0, ipi) }() // posts although the CPU is in user mode
	eventually(t, "the IPI posted", func() bool { s := cpuStats(d, 0); return s.IPIs == 1 })
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.NoError(t, mutWait(t, "the IPI's wait", sent))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"deferred", "ipi"}, order, "KernelEnter: deferred work, then IPIs")
}

// Idle leaves the Idle state before it runs the IPIs that woke it: their
// handlers are kernel-mode code, and a grace period that saw the CPU Idle
// while one runs would end without waiting for it. The handler records the
// CPU's state as an observer (Domain.State) sees it. The IPI is sent only
// once the owner is parked, so that it is the wake-up, not a pending IPI
// that Idle handles without parking.
// Mutant caught: idle-ipis-before-exit.
func TestIdleRunsWakingIPIsInKernelMode(t *testing.T) {
	d := edgeDomain(t)
	var seen ctseq.State
	w, err := d.Register("w", func(cpu int) { seen = d.State(cpu) })
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	idled := o.async(func(c *ctdefer.CPU) {
		if err := c.Idle(context.Background()); err != nil {
			t.Errorf("Idle: %v", err)
		}
	})
	eventually(t, "the owner parked", func() bool { return d.State(0) == ctseq.Idle })
	require.NoError(t, d.IPI(ctxWithin(t, hangLimit), 0, w))
	<-idled
	require.Equal(t, ctseq.Kernel, seen, "the waking IPI's handler ran with the CPU in kernel mode")
}

// CPU.Poll inlines into the owner's loop (its common case is one load of
// the mailbox and one of the handle): a hot loop that polls pays no call.
// The test builds testdata/inlineprobe, which calls it from another
// package, and reads the compiler's decisions.
// Mutant caught: poll-not-inlined.
func TestIntendedInlining(t *testing.T) {
	out, err := inlinecheck.Build("-m", "./testdata/inlineprobe")
	require.NoError(t, err, "go build -gcflags=-m ./testdata/inlineprobe:\n%s", out)
	require.Contains(t, string(out), "inlining call to ctdefer.(*CPU).Poll",
		"CPU.Poll is not inlined into its caller any more: a polling hot loop pays a call per poll\n%s", out)
}

// Domain.Defer's fast path makes its CAS without a call: ctseq's
// SetWorkIfUser, and the decision and CAS loop in it, inline into Defer.
// (Defer itself cannot inline: its slow-path call alone costs 57 of the
// inliner's budget of 80, and the fast path 60 more; docs/design/delivery.md.)
// Mutant caught: setwork-not-inlined.
func TestDeferFastPathHasNoCall(t *testing.T) {
	out, err := inlinecheck.Build("-m", ".")
	require.NoError(t, err, "go build -gcflags=-m .:\n%s", out)
	require.Regexp(t, `defer\.go:\d+:\d+: inlining call to ctseq\.\(\*Word\)\.SetWorkIfUser\n`, string(out),
		"Defer's fast path calls SetWorkIfUser\n%s", out)
	require.Regexp(t, `defer\.go:\d+:\d+: inlining call to ctseq\.\(\*Word\)\.setWork\n`, string(out),
		"SetWorkIfUser's CAS loop is a call in Defer's fast path\n%s", out)
}

// The hot paths allocate nothing: Defer to a CPU in user mode, KernelEnter
// with and without deferred work, UserEnter, Poll.
// Mutants caught: none.
func TestZeroAllocHotPaths(t *testing.T) {
	cpus := twoCPUs(t)
	opts := testOptions()
	opts.Debug = false
	d := newDomain(t, opts)
	w, err := d.Register("nop", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	o.do(func(c *ctdefer.CPU) {
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.UserEnter()
			_, _ = d.Defer(cpus[0], w)
			c.KernelEnter()
		}), "UserEnter + Defer (deferred) + KernelEnter with work")
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.UserEnter()
			c.Poll()
			c.KernelEnter()
		}), "UserEnter + Poll + KernelEnter without work")
	})
	st := cpuStats(d, cpus[0])
	require.GreaterOrEqual(t, st.Deferred, uint64(1000), "the deferred path was exercised: %v", st)
	require.Zero(t, st.IPIs, "no IPI in the measured paths: %v", st)
}

// UserEnter runs the IPIs already posted while the CPU is still in the
// kernel (the kernel's exit-to-user work loop): a handler must never find
// the CPU in user mode.
// Mutant caught: ipi-after-user-enter.
func TestUserEnterRunsIPIsInKernel(t *testing.T) {
	d := mutDomain(t)
	var seen []ctseq.State // appended by the handler, on the owner; read after o.do
	w, err := d.Register("probe", func(cpu int) { seen = append(seen, d.State(cpu)) })
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w), "the owner is in the kernel: an IPI")
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, []ctseq.State{ctseq.Kernel}, seen,
		"UserEnter ran the pending IPI once, in kernel mode, before the switch to user mode")
	require.Equal(t, ctseq.User, d.State(0))
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
}

// Under FlushOnEntry a delivery sets no bit, yet the next kernel entry runs
// it.
// Mutant caught: flush-on-entry-needs-bits.
func TestFlushOnEntryRunsDeferredWork(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, 0, ctdefer.FlushOnEntry())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, cnt.get(0), "the kernel entry ran the work deferred under FlushOnEntry")
}

// Release from user mode runs the work deferred since the last entry.
// Mutant caught: release-skips-drain.
func TestReleaseRunsDeferredWork(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	o.stop()
	require.NoError(t, o.err, "Release")
	require.Equal(t, 1, cnt.get(0), "Release ran the deferred work")
	require.Equal(t, ctseq.Kernel, d.State(0), "a released CPU is left in the kernel")
}

// Release runs the IPIs posted before it, and runs them while the CPU is
// still claimed: grace periods skip unclaimed CPUs, so a handler run after
// the unclaim would run unseen.
// Mutants caught: release-skips-ipis, unclaim-before-last-ipis.
func TestReleaseRunsIPIsWhileClaimed(t *testing.T) {
	d := mutDomain(t)
	var claimed []bool // appended by the handler, on the owner; read after o.stop
	w, err := d.Register("probe", func(cpu int) { claimed = append(claimed, d.Claimed(cpu)) })
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w), "the owner is in the kernel: an IPI")
	o.stop()
	require.NoError(t, o.err, "Release")
	require.Equal(t, []bool{true}, claimed, "Release ran the pending IPI once, while the CPU was still claimed")
	require.False(t, d.Claimed(0), "and then released the CPU")
}

// Claim runs the IPIs posted while no worker held the CPU before it returns.
// Mutant caught: claim-skips-waiting-ipis.
func TestClaimRunsIPIsPostedWhileFree(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w), "no worker holds CPU 0: an IPI")
	require.Zero(t, cnt.get(0))
	startOwner(t, d, 0)
	require.Equal(t, 1, cnt.get(0), "Claim ran the waiting IPI before it returned")
}

// UserEnter handles the IPIs pending for the CPU in kernel mode, before it
// returns to user.
// Mutants caught: none.
func TestUserEnterHandlesPendingIPIs(t *testing.T) {
	cpus, d, cnt, w, o := countingOwner(t, testOptions())
	requireDefer(t, d, cpus[0], w, "IPI to a CPU in the kernel")
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, 1, cnt.get(cpus[0]), "UserEnter handles pending IPIs before returning to user")
	st := cpuStats(d, cpus[0])
	require.Zero(t, st.IPIsInUser, "handled in kernel mode: %v", st)
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
}

// An IPI wakes a parked owner: Idle returns nil and the IPI has run.
// Mutants caught: none.
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

// Idle ends with its context's error, and returns in kernel mode.
// Mutants caught: none.
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

// Release runs the work deferred to the owner, and work sent to a released
// CPU waits in its mailbox for the next Claim.
// Mutants caught: none.
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

// An owner that claimed with FlushOnEntry runs every registered work at each
// kernel entry, whether or not it was deferred.
// Mutants caught: none.
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

// Item 1: Release from user mode under FlushOnEntry runs the work deferred
// since the last kernel entry, and the DeferWait for it returns.
// Mutants caught: none.
func TestReleaseUnderFlushOnEntryRunsDeferredWork(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	w, err := d.Register("flush", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, 0, ctdefer.FlushOnEntry())
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w), "a CPU in user mode defers")
	waited := make(chan error, 1)
	go func() { waited <- d.DeferWait(context.Background(), 0, w) }()
	time.Sleep(10 * time.Millisecond) // most likely deferred too; either way it must return
	o.stop()                          // Release from user mode
	require.GreaterOrEqual(t, cnt.get(0), 1, "Release ran the work deferred under FlushOnEntry")
	// A waiter that delivered after the Release posted an IPI: the next
	// owner runs it when it claims. Either way, nothing needs a cycle of
	// the new owner, which stays in the kernel.
	_ = startOwner(t, d, 0)
	select {
	case err := <-waited:
		require.NoError(t, err, "DeferWait for work that Release ran")
	case <-time.After(hangLimit):
		t.Fatal("DeferWait still waiting after Release ran the work")
	}
}

// Item 7: a handler that panics at a kernel entry or at a poll point does
// not keep the completion of the work drained with it from its waiters.
// Mutant caught: completion-skipped-on-panic.
func TestPanickingNeighbourPublishesCompletions(t *testing.T) {
	for _, at := range []string{"KernelEnter", "Poll"} {
		t.Run(at, func(t *testing.T) {
			d := edgeDomain(t)
			boom, err := d.Register("boom", func(int) { panic("boom") }) // lower bit: runs first
			require.NoError(t, err)
			cnt := newCounter()
			ok, err := d.Register("ok", cnt.handler)
			require.NoError(t, err)
			o := startOwner(t, d, 0)
			if at == "KernelEnter" {
				o.do(func(c *ctdefer.CPU) { c.UserEnter() })
			}
			waited := make(chan error, 1)
			go func() { waited <- d.DeferWait(context.Background(), 0, ok) }()
			if at == "KernelEnter" {
				eventually(t, "the waiter's bit set", func() bool { s, _ := d.Snapshot(0); return s.Work() != 0 })
			} else {
				eventually(t, "the waiter's IPI posted", func() bool { s := cpuStats(d, 0); return s.IPIs == 1 })
			}
			requireDefer(t, d, 0, boom)
			var p any
			o.do(func(c *ctdefer.CPU) {
				if at == "KernelEnter" {
					p = recovered(func() { c.KernelEnter() })
				} else {
					p = recovered(func() { c.Poll() })
				}
			})
			var hp *ctseq.HandlerPanic
			require.True(t, errors.As(p.(error), &hp), "the owner sees the handler's panic, got %v", p)
			require.Equal(t, 1, cnt.get(0), "the neighbour ran")
			select {
			case err := <-waited:
				require.NoError(t, err, "the neighbour's waiter hears it ran")
			case <-time.After(hangLimit):
				t.Fatal("the neighbour ran but its DeferWait never returned")
			}
			require.Equal(t, ctseq.Kernel, d.State(0), "the owner is back in kernel mode")
		})
	}
}

// Item 7, poll in user mode: a panic at a Poll leaves the CPU in the mode
// the Poll interrupted.
// Mutants caught: none.
func TestPanicAtUserPollReturnsToUser(t *testing.T) {
	d := edgeDomain(t)
	boom, err := d.Register("boom", func(int) { panic("boom") })
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	err = d.IPI(ctxWithin(t, time.Millisecond), 0, boom) // posts, then gives up waiting
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var p any
	o.do(func(c *ctdefer.CPU) { p = recovered(func() { c.Poll() }) })
	require.NotNil(t, p)
	require.Equal(t, ctseq.User, d.State(0), "the Poll returned the CPU to user mode")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
}

// Item 8: a panic inside Release still releases the CPU; the panic then
// reaches the owner.
// Mutants caught: none.
func TestReleasePanicStillReleases(t *testing.T) {
	d := edgeDomain(t)
	boom, err := d.Register("boom", func(int) { panic("boom") })
	require.NoError(t, err)
	var p any
	var claimErr, deferErr, reclaimErr error
	within(t, "owner", func() {
		c, err := d.Claim(0)
		if claimErr = err; err != nil {
			return
		}
		c.UserEnter()
		_, deferErr = d.Defer(0, boom)
		p = recovered(func() { _ = c.Release() })
		// Unlocked and unclaimed: this goroutine may claim again.
		c2, err := d.Claim(1)
		reclaimErr = err
		if err == nil {
			_ = c2.Release()
		}
	})
	require.NoError(t, claimErr)
	require.NoError(t, deferErr)
	require.NotNil(t, p, "the handler's panic reaches the owner")
	require.NoError(t, reclaimErr, "the goroutine no longer owns a CPU after the panicking Release")
	require.False(t, d.Claimed(0), "the CPU was unclaimed")
	require.NoError(t, d.Close(ctxWithin(t, hangLimit)), "Close finds no CPU still claimed")
}

// Item 12: a goroutine that owns a CPU cannot claim another one, in this
// Domain or another.
// Mutants caught: none.
func TestClaimByAnOwnerIsRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("an owner is recognised by its thread ID, which only Linux gives without cgo")
	}
	d := edgeDomain(t)
	other := edgeDomain(t)
	o := startOwner(t, d, 0)
	var same, cross error
	o.do(func(*ctdefer.CPU) {
		_, same = d.Claim(1)
		_, cross = other.Claim(1)
	})
	require.ErrorIs(t, same, ctdefer.ErrCPUBusy)
	require.Contains(t, same.Error(), "already owns CPU 0")
	require.ErrorIs(t, cross, ctdefer.ErrCPUBusy)
	require.False(t, d.Claimed(1))
	require.False(t, other.Claimed(1))
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() }) // the owner still works
}

// A handle used after Release is dead: each method that acts on the CPU
// panics, naming itself and "after Release", with or without Options.Debug,
// and leaves the word as Release left it (Kernel, same sequence); a Defer
// then still goes to the mailbox, and the next Claim finds the CPU in
// kernel mode and can use it.
// Mutant caught: released-handle-unchecked.
func TestCPUAfterReleasePanics(t *testing.T) {
	methods := []struct {
		name string
		call func(c *ctdefer.CPU)
	}{
		{"CPU.State", func(c *ctdefer.CPU) { c.State() }},
		{"CPU.UserEnter", func(c *ctdefer.CPU) { c.UserEnter() }},
		{"CPU.KernelEnter", func(c *ctdefer.CPU) { c.KernelEnter() }},
		{"CPU.Poll", func(c *ctdefer.CPU) { c.Poll() }},
		{"CPU.Quiesce", func(c *ctdefer.CPU) { c.Quiesce() }},
		{"CPU.Idle", func(c *ctdefer.CPU) { _ = c.Idle(context.Background()) }},
		{"CPU.Release", func(c *ctdefer.CPU) { _ = c.Release() }},
		{"CPU.NeedResched", func(c *ctdefer.CPU) { c.NeedResched() }},
		{"CPU.NeedReschedBeforeUser", func(c *ctdefer.CPU) { c.NeedReschedBeforeUser() }},
		{"CPU.Tick", func(c *ctdefer.CPU) { c.Tick() }},
		{"CPU.ClearResched", func(c *ctdefer.CPU) { c.ClearResched() }},
	}
	for _, debug := range []bool{false, true} {
		for _, m := range methods {
			ok := t.Run(fmt.Sprintf("debug=%v/%s", debug, m.name), func(t *testing.T) {
				d := edgeDomain(t, func(o *ctdefer.Options) { o.Debug = debug })
				cnt := newCounter()
				w, err := d.Register("w", cnt.handler)
				require.NoError(t, err)
				var p any
				var before, after ctseq.Snapshot
				within(t, "owner", func() {
					c, err := d.Claim(0)
					if err != nil {
						p = err
						return
					}
					_ = c.Release()
					before, _ = d.Snapshot(0)
					p = recovered(func() { m.call(c) })
					after, _ = d.Snapshot(0)
				})
				msg := fmt.Sprint(p)
				require.Contains(t, msg, "ctdefer: "+m.name+":", "the panic names the method")
				require.Contains(t, msg, "after Release", "the panic says why")
				require.Equal(t, before, after, "a released handle leaves the word alone")
				require.Equal(t, ctseq.Kernel, after.State())
				how, err := d.Defer(0, w)
				require.NoError(t, err)
				require.Equal(t, ctdefer.IPI, how, "work for the released CPU waits in its mailbox")
				o := startOwner(t, d, 0)
				var st ctseq.State
				o.do(func(c *ctdefer.CPU) {
					st = c.State()
					c.UserEnter()
					c.KernelEnter()
				})
				require.Equal(t, ctseq.Kernel, st, "the next Claim returns the CPU in kernel mode")
				require.Equal(t, 1, cnt.get(0), "the next owner ran the work sent while nobody held the CPU")
			})
			if !ok {
				return // a misused handle may have broken the Domain's books: the next cases would hang
			}
		}
	}
}

// A handler that calls runtime.Goexit (as t.FailNow does) is handled like
// one that panics: the other work of its batch runs, its waiter hears so
// (nil, and only once the work ran), and the owner is gone. Under Go the
// worker releases the CPU and Close finds nothing to hand back; an owner
// that claimed the CPU itself is found gone by the next waiter's slow path,
// and that waiter's work is handed back with ErrOwnerGone. Both paths of
// the batch: deferred to the kernel entry, and IPIs at a Poll.
// Mutants caught: completion-skipped-on-panic, drain-goexit-loses-rest.
func TestHandlerGoexit(t *testing.T) {
	for _, path := range []string{"deferred", "ipi"} {
		for _, owner := range []string{"go", "claim"} {
			t.Run(path+"/"+owner, func(t *testing.T) {
				d := edgeDomain(t)
				exit, err := d.Register("exit", func(int) { runtime.Goexit() }) // lower bit: runs first
				require.NoError(t, err)
				cnt := newCounter()
				ok, err := d.Register("ok", cnt.handler)
				require.NoError(t, err)

				step, ended := make(chan struct{}), make(chan struct{})
				var ranAtExit int
				loop := func(c *ctdefer.CPU) {
					defer close(ended)
					defer func() { ranAtExit = cnt.get(0) }() // after the handlers, however they end
					if path == "deferred" {
						c.UserEnter()
					}
					step <- struct{}{}
					<-step
					if path == "deferred" {
						c.KernelEnter()
					} else {
						c.Poll()
					}
					t.Error("the owner went on after its handler's Goexit")
				}
				if owner == "go" {
					require.NoError(t, d.Go(0, loop))
				} else {
					go func() {
						c, err := d.Claim(0)
						if err != nil {
							t.Error(err)
							close(ended)
							return
						}
						loop(c) // no Release: the thread ends with the goroutine
					}()
				}
				<-step
				waited := make(chan error, 1)
				go func() { waited <- d.DeferWait(context.Background(), 0, ok) }()
				if path == "deferred" {
					eventually(t, "the waiter's bit set", func() bool { s, _ := d.Snapshot(0); return s.Work() != 0 })
				} else {
					eventually(t, "the waiter's IPI posted", func() bool { s := cpuStats(d, 0); return s.IPIs == 1 })
				}
				require.Equal(t, path == "deferred", requireDefer(t, d, 0, exit) == ctdefer.Deferred)
				step <- struct{}{}
				<-ended
				require.Equal(t, 1, ranAtExit, "the work after the Goexit ran before the owner's goroutine ended")
				select {
				case err := <-waited:
					require.NoError(t, err, "the waiter of the work that ran hears it ran")
				case <-time.After(hangLimit):
					t.Fatal("the work ran but its DeferWait never returned")
				}
				if owner == "go" {
					eventually(t, "the worker released the CPU", func() bool { return !d.Claimed(0) })
					require.NoError(t, d.Close(ctxWithin(t, hangLimit)), "nothing lost, nothing handed back")
					return
				}
				if runtime.GOOS != "linux" {
					return // an exited owner is found through thread IDs or a collection
				}
				err = d.DeferWait(ctxWithin(t, hangLimit), 0, ok)
				require.ErrorIs(t, err, ctdefer.ErrOwnerGone, "a later delivery is handed back by the reclaim")
				require.Equal(t, 1, cnt.get(0), "handed-back work never runs")
				require.False(t, d.Claimed(0), "the CPU was taken back")
			})
		}
	}
}
