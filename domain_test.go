package ctdefer_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/stretchr/testify/require"
)

// The read-only accessors a grace-period scan uses (Observe, Claimed,
// Snapshot, QuiescentSince) agree with each other in every state of a CPU,
// and answer an unknown CPU as documented.
// Mutants caught: none.
func TestObserveAgreesWithClaimedAndSnapshot(t *testing.T) {
	d := edgeDomain(t)

	snap, claimed := d.Observe(0)
	require.False(t, claimed, "an unclaimed CPU")
	require.Equal(t, ctseq.Snapshot{}, snap, "an unclaimed CPU reports the zero Snapshot")
	require.False(t, d.Claimed(0))

	o := startOwner(t, d, 0)
	check := func(want ctseq.State) {
		t.Helper()
		snap, claimed := d.Observe(0)
		require.True(t, claimed, "a claimed CPU")
		require.Equal(t, want, snap.State())
		direct, err := d.Snapshot(0)
		require.NoError(t, err)
		require.Equal(t, direct, snap, "Observe reads the word Snapshot reads")
		require.True(t, d.Claimed(0))
	}
	check(ctseq.Kernel)
	before, _ := d.Observe(0)
	require.False(t, d.QuiescentSince(0, before), "no transition yet")
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	check(ctseq.User)
	require.True(t, d.QuiescentSince(0, before), "the owner left the kernel")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	check(ctseq.Kernel)
	o.stop()
	_, claimed = d.Observe(0)
	require.False(t, claimed, "released")

	for _, cpu := range []int{-1, 2, 1 << 20} {
		snap, claimed := d.Observe(cpu)
		require.False(t, claimed, "unknown CPU %d", cpu)
		require.Equal(t, ctseq.Snapshot{}, snap)
		require.False(t, d.Claimed(cpu), "unknown CPU %d", cpu)
		require.True(t, d.QuiescentSince(cpu, ctseq.Snapshot{}), "nothing runs on unknown CPU %d", cpu)
		_, err := d.Snapshot(cpu)
		require.ErrorIs(t, err, ctdefer.ErrInvalid)
		require.ErrorContains(t, err, "ctdefer.Domain.Snapshot: cpu ")
	}
}

// Close wakes a CPU parked without a deadline: its Idle returns ErrClosed,
// the owner releases, and Close returns.
// Mutant caught: close-no-wake.
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

// Close refuses new work and new Claims at once, lets a live owner run its
// deferred work at its Release, runs RemoteSafe IPIs posted to a CPU nobody
// claimed on its behalf, and hands back the rest (an *UndeliveredError),
// failing the DeferWait that waited for it; a second Close returns
// ErrClosed.
// Mutants caught: none.
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

// Close wakes a parked owner, whose Idle returns ErrClosed.
// Mutants caught: none.
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

// A Close whose context ends while a CPU is still claimed returns the
// context's error and says which CPUs are still claimed.
// Mutants caught: none.
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

// Item 2: a Close whose context ends is resumed by the next Close, which
// hands back the IPI posted to a CPU nobody claimed.
// Mutants caught: none.
func TestCloseResumesAfterContextEnds(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	w, err := d.Register("posted", cnt.handler)
	require.NoError(t, err)
	o := startOwner(t, d, 0) // stays busy: never looks at Closing
	how, err := d.Defer(1, w)
	require.NoError(t, err)
	require.Equal(t, ctdefer.IPI, how, "an unclaimed CPU gets IPIs")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = d.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the first Close gives up with ctx")
	require.Contains(t, err.Error(), "[0]", "it names the CPU still claimed")
	_, err = d.Claim(1)
	require.ErrorIs(t, err, ctdefer.ErrClosed, "a closing Domain refuses claims")
	requireDeferErr(t, d, 1, w, ctdefer.ErrClosed, "a closing Domain refuses work")

	o.stop()
	var cerr error
	within(t, "second Close", func() { cerr = d.Close(context.Background()) })
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue, "the second Close finishes the job and hands back the IPI")
	require.Len(t, ue.Pending, 1)
	require.Equal(t, 1, ue.Pending[0].CPU)
	require.Equal(t, "posted", ue.Pending[0].Work.String())
	require.ErrorIs(t, ue.Pending[0].Err, ctdefer.ErrClosed)
	require.ErrorIs(t, cerr, ctdefer.ErrClosed)
	require.Zero(t, cnt.get(1), "handed-back work never runs")
	require.ErrorIs(t, d.Close(context.Background()), ctdefer.ErrClosed, "a finished Close is final")
}

// Item 3: a RemoteSafe handler that panics while Close runs it on behalf of
// an unclaimed CPU does not stop Close from accounting for the other CPUs;
// the panic comes back in Close's error.
// Mutants caught: none.
func TestClosePanickingHandlerStillAccountsForEverything(t *testing.T) {
	d := edgeDomain(t)
	boom, err := d.Register("boom", func(int) { panic("boom") }, ctdefer.RemoteSafe())
	require.NoError(t, err)
	cnt := newCounter()
	safe, err := d.Register("safe", cnt.handler, ctdefer.RemoteSafe())
	require.NoError(t, err)
	plain, err := d.Register("plain", cnt.handler)
	require.NoError(t, err)
	// Nobody claims either CPU: every delivery is posted to a mailbox.
	for _, x := range []struct {
		cpu int
		w   ctdefer.Work
	}{{0, boom}, {1, safe}, {1, plain}} {
		how, err := d.Defer(x.cpu, x.w)
		require.NoError(t, err)
		require.Equal(t, ctdefer.IPI, how)
	}
	var cerr error
	require.NoError(t, noPanic(func() { cerr = d.Close(context.Background()) }), "Close must not panic")
	var hp *ctseq.HandlerPanic
	require.ErrorAs(t, cerr, &hp, "Close reports the handler's panic")
	require.Equal(t, "boom", hp.Value)
	require.Equal(t, 1, cnt.get(1), "the RemoteSafe work of the CPU after the panic still ran")
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue, "the plain work is handed back")
	require.Len(t, ue.Pending, 1)
	require.Equal(t, "plain", ue.Pending[0].Work.String())
	require.Equal(t, 1, ue.Pending[0].CPU)
}

// Item 6: Close runs the RemoteSafe IPI and hands back the plain one; only
// the plain one's waiter hears ErrClosed, and only it is listed.
// Mutants caught: none.
func TestCloseReportsOnlyWorkItHandedBack(t *testing.T) {
	for range 20 { // the old bug showed in most rounds; each round is exact
		d := edgeDomain(t)
		cnt := newCounter()
		safe, err := d.Register("safe", cnt.handler, ctdefer.RemoteSafe())
		require.NoError(t, err)
		plain, err := d.Register("plain", cnt.handler)
		require.NoError(t, err)
		results := map[string]chan error{"safe": make(chan error, 1), "plain": make(chan error, 1)}
		for name, w := range map[string]ctdefer.Work{"safe": safe, "plain": plain} {
			go func() { results[name] <- d.DeferWait(ctxWithin(t, hangLimit), 1, w) }() // a deadline: wait for a claim (or Close)
		}
		eventually(t, "both IPIs posted", func() bool { s := cpuStats(d, 1); return s.IPIs == 2 })
		cerr := d.Close(context.Background())
		var ue *ctdefer.UndeliveredError
		require.ErrorAs(t, cerr, &ue)
		require.Len(t, ue.Pending, 1)
		require.Equal(t, "plain", ue.Pending[0].Work.String())
		require.NoError(t, <-results["safe"], "Close ran the RemoteSafe work: its waiter succeeds")
		require.ErrorIs(t, <-results["plain"], ctdefer.ErrClosed, "the plain work was handed back")
		require.Equal(t, 1, cnt.get(1))
	}
}

// Item 9: Close from an owner, or from a handler, returns at once.
// Mutants caught: none.
func TestCloseFromOwnerOrHandlerReturnsAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("an owner is recognised by its thread ID, which only Linux gives without cgo")
	}
	t.Run("owner", func(t *testing.T) {
		d := edgeDomain(t)
		o := startOwner(t, d, 0)
		var err error
		within(t, "Close from the owner", func() {
			o.do(func(*ctdefer.CPU) { err = d.Close(context.Background()) })
		})
		require.ErrorIs(t, err, ctdefer.ErrWouldDeadlock)
		require.False(t, d.Closed(), "the refused Close changed nothing")
	})
	t.Run("handler", func(t *testing.T) {
		d := edgeDomain(t)
		var herr atomic.Value
		w, err := d.Register("closer", func(int) { herr.Store(d.Close(context.Background())) })
		require.NoError(t, err)
		o := startOwner(t, d, 0)
		require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w))
		within(t, "Close from a handler", func() { o.do(func(c *ctdefer.CPU) { c.Poll() }) })
		require.ErrorIs(t, herr.Load().(error), ctdefer.ErrWouldDeadlock)
		require.False(t, d.Closed(), "the refused Close changed nothing")
	})
	t.Run("handler run by Close", func(t *testing.T) {
		d := edgeDomain(t)
		var herr atomic.Value
		w, err := d.Register("closer", func(int) { herr.Store(d.Close(context.Background())) }, ctdefer.RemoteSafe())
		require.NoError(t, err)
		requireDefer(t, d, 1, w) // unclaimed: Close runs it on behalf
		within(t, "Close", func() { require.NoError(t, d.Close(context.Background())) })
		require.ErrorIs(t, herr.Load().(error), ctdefer.ErrClosed)
	})
}

// Item 13: names identify work, so they must be present and unique.
// Mutants caught: none.
func TestRegisterRefusesBadNames(t *testing.T) {
	d := edgeDomain(t)
	_, err := d.Register("", func(int) {})
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	_, err = d.Register("x", func(int) {})
	require.NoError(t, err)
	_, err = d.Register("x", func(int) {})
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	require.Contains(t, err.Error(), `"x"`)
}

// Item 14: nil options are refused with an error, not a nil dereference.
// Mutants caught: none.
func TestNilOptionsAreRefused(t *testing.T) {
	d := edgeDomain(t)
	var rerr, cerr error
	require.NoError(t, noPanic(func() { _, rerr = d.Register("x", func(int) {}, nil) }))
	require.ErrorIs(t, rerr, ctdefer.ErrInvalid)
	require.NoError(t, noPanic(func() { _, cerr = d.Claim(0, nil) }))
	require.ErrorIs(t, cerr, ctdefer.ErrInvalid)
	require.False(t, d.Claimed(0))
}
