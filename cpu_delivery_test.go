package ctdefer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// Tests of the delivery paths of cpu.go's owner transitions (UserEnter,
// Claim, Release, FlushOnEntry, AlwaysIPI). Each pins down one documented
// guarantee that a catalogue mutant breaks (named on the test), and fails every time the
// mutant is in: the owner is driven step by step from the test goroutine
// (startOwner, o.do), and every check is made right after a synchronous
// call returns, or on a value a handler recorded while it ran. A wait
// bounded by mutLimit only turns a hang into a failure; no check depends on
// a sleep or on how the scheduler runs the goroutines.

// mutLimit bounds a wait for something the real code does at once.
const mutLimit = 10 * time.Second

// mutDomain is a Domain over CPUs 0 and 1, unpinned (so that the tests run
// on a machine with one allowed CPU as well), whose IPIs never time out by
// themselves. Cleanup closes it with a short deadline: under some mutants an
// owner stays parked for good, and the test has failed already.
func mutDomain(t *testing.T) *ctdefer.Domain {
	t.Helper()
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err, "New")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// mutClaimFromExitedOwner claims cpu, whose owner has exited without
// Release, as soon as the runtime can tell its thread has ended (the Claim
// takes the CPU back), and returns the new owner.
func mutClaimFromExitedOwner(t *testing.T, d *ctdefer.Domain, cpu int) *owner {
	t.Helper()
	var o *owner
	mutEventually(t, "a Claim takes the CPU back from the exited owner", func() bool {
		try := &owner{cmds: make(chan func(c *ctdefer.CPU)), done: make(chan struct{})}
		claimed := make(chan error)
		go func() {
			defer close(try.done)
			c, err := d.Claim(cpu)
			claimed <- err
			if err != nil {
				return
			}
			for f := range try.cmds {
				f(c)
			}
			try.err = c.Release()
		}()
		err := <-claimed
		if errors.Is(err, ctdefer.ErrCPUBusy) {
			return false // the exited owner's thread has not ended yet
		}
		require.NoError(t, err, "Claim(%d)", cpu)
		o = try
		t.Cleanup(o.stop)
		return true
	})
	return o
}

// mutWait returns what ch delivers, failing the test if nothing comes
// within mutLimit (a hang).
func mutWait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mutLimit):
		t.Fatalf("%s: nothing after %v (a hang)", what, mutLimit)
	}
	panic("unreachable")
}

// mutEventually fails the test if cond does not hold within mutLimit. It
// waits for a state the real code reaches on its own, never for a race.
func mutEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, mutLimit)
		}
	}
}

// UserEnter runs the IPIs already posted while the CPU is still in the
// kernel (the kernel's exit-to-user work loop): a handler must never find
// the CPU in user mode. Mutant ipi-after-user-enter.
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

// A CPU claimed with AlwaysIPI gets every delivery as an IPI, even in user
// mode. Mutant fast-path-ignores-policy.
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

// Under FlushOnEntry a delivery sets no bit, yet the next kernel entry runs
// it. Mutant flush-on-entry-needs-bits.
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
// Mutant release-skips-drain.
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
// the unclaim would run unseen. Mutants release-skips-ipis and
// unclaim-before-last-ipis.
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
// Mutant claim-skips-waiting-ipis.
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

// Close wakes a CPU parked without a deadline: its Idle returns ErrClosed,
// the owner releases, and Close returns. Mutant close-no-wake.
func TestCloseWakesParkedOwner(t *testing.T) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	claimed, idle := make(chan error), make(chan error, 1)
	go func() {
		c, err := d.Claim(0)
		claimed <- err
		if err != nil {
			return
		}
		idle <- c.Idle(context.Background()) // no deadline: only a wake-up ends it
		_ = c.Release()
	}()
	require.NoError(t, <-claimed)
	mutEventually(t, "the owner parks", func() bool { return d.State(0) == ctseq.Idle })
	ctx, cancel := context.WithTimeout(context.Background(), mutLimit)
	defer cancel()
	require.NoError(t, d.Close(ctx), "Close woke the parked owner, which released")
	require.ErrorIs(t, mutWait(t, "Idle", idle), ctdefer.ErrClosed, "the parked owner's Idle returns ErrClosed")
}

// A deferred delivery that ran is reported as run, even when an IPI with the
// same number (a mailbox generation equal to the entry's sequence) was
// handed back from an exited owner before: the hand-back log is keyed by the
// kind of ticket too, and a wait looks only at the hand-backs made since its
// delivery began (TestHandBackMatchIsExact catches mutant
// handed-back-ignores-kind, which this test no longer can: the IPI's
// hand-back comes before the delivery).
func TestDeferredRunNotMistakenForHandedBackIPI(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	// Generation 1: posted while CPU 0 is free, run by the Claim below.
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w))
	exitWithoutRelease(t, d, 0, false) // claims (runs generation 1) and exits in the kernel
	require.Equal(t, 1, cnt.get(0), "the Claim ran the waiting IPI")
	// Generation 2: posted to the dead owner, handed back when the CPU is
	// taken back. The word made no transition: it is in the kernel at
	// sequence 0.
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w))
	o := mutClaimFromExitedOwner(t, d, 0)
	require.Equal(t, uint64(1), d.Stats().OwnersGone)
	require.Equal(t, 1, cnt.get(0), "handed back, not run")

	// The new owner: user mode at sequence 1, so a deferred delivery is
	// served by the entry at sequence 2, the number of the handed-back IPI.
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	snap, err := d.Snapshot(0)
	require.NoError(t, err)
	require.Equal(t, uint64(1), snap.Seq(), "setup: user mode at sequence 1")
	waited := make(chan error, 1)
	go func() { waited <- d.DeferWait(context.Background(), 0, w) }()
	mutEventually(t, "the waiter's delivery is deferred", func() bool {
		s, _ := d.Snapshot(0)
		return s.Work() != 0
	})
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 2, cnt.get(0), "the deferred delivery ran")
	err = mutWait(t, "DeferWait", waited)
	require.NoError(t, err, "the delivery ran: DeferWait must not report it handed back")
	require.False(t, errors.Is(err, ctdefer.ErrOwnerGone))
}
