package lazytlb_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// lazytlbsim.New (NewWithSender here) refuses each bad argument with a
// *ctdefer.ArgError (errors.Is ctdefer.ErrInvalid) naming it and the
// reason; a bad CPU list is named in full. lazytlbsim.WithPolicy panics on
// a policy that does not exist.
// Mutants caught: none.
func TestNewWithSenderErrors(t *testing.T) {
	ok := lazytlb.Options{Flush: nopFlush}
	for _, tc := range []struct {
		name   string
		cpus   []int
		send   lazytlb.SendFunc
		opts   lazytlb.Options
		arg    string
		reason string
		badCPU bool
	}{
		{"nil sender", []int{0}, nil, ok, "send", "nil", false},
		{"nil flush", []int{0}, nopSend, lazytlb.Options{}, "opts.Flush", "nil", false},
		{"empty", nil, nopSend, ok, "cpus", "empty", true},
		{"negative", []int{-1}, nopSend, ok, "cpus", "CPU -1", true},
		{"too large", []int{maxCPU + 1}, nopSend, ok, "cpus", "out of range", true},
		{"duplicate", []int{1, 1}, nopSend, ok, "cpus", "CPU 1 listed twice", true},
	} {
		tlb, err := lazytlb.NewWithSender(tc.cpus, tc.send, tc.opts)
		require.Nil(t, tlb, "%s: no TLB", tc.name)
		requireArgError(t, err, "lazytlbsim.New", tc.arg, tc.reason, tc.name)
		require.ErrorIs(t, err, ctdefer.ErrInvalid, tc.name)
		if tc.badCPU {
			require.Equal(t, tc.cpus, err.(*ctdefer.ArgError).Value, "%s: names the list", tc.name)
		}
	}
	require.PanicsWithValue(t, "lazytlbsim: WithPolicy(7): not one of the Policy constants",
		func() { lazytlb.WithPolicy(7, ok) }, "a policy that does not exist")
}

// An owner handle for a CPU outside the TLB is refused with an *ArgError
// naming the CPU; State of an unknown CPU is Off, and HandleIPI of one
// panics.
// Mutants caught: none.
func TestBadCPUErrors(t *testing.T) {
	d := newDirect(t, []int{0, 2}, lazytlb.PolicyLazy)
	_, err := d.t.CPU(1)
	ae := requireArgError(t, err, "lazytlbsim.Owner", "cpu", "not one of the TLB's CPUs [0 2]", "CPU 1 is not in the TLB")
	require.Equal(t, 1, ae.Value, "names the value")
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "a CPU error")
	require.Equal(t, lazytlb.Off, d.t.State(99), "State of an unknown CPU is Off")
	require.PanicsWithValue(t, "lazytlb: TLB.handleIPI: CPU 5 not in the TLB [0 2]", func() { d.t.HandleIPI(5) },
		"HandleIPI of an unknown CPU is a sender bug")
}

// Shootdown refuses a nil address space and one of another TLB with an
// *ArgError.
// Mutants caught: none.
func TestShootdownForeignMM(t *testing.T) {
	a := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	b := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	_, err := a.t.Shootdown(context.Background(), b.t.NewMM("b"))
	ae := requireArgError(t, err, "lazytlb.TLB.Shootdown", "mm", "of another TLB", "MM of another TLB")
	require.Equal(t, "b", ae.Value, "names the MM")
	_, err = a.t.Shootdown(context.Background(), nil)
	requireArgError(t, err, "lazytlb.TLB.Shootdown", "mm", "nil", "nil MM")
}

// A shootdown with a canceled context returns its error before it bumps the
// generation.
// Mutants caught: none.
func TestShootdownCanceled(t *testing.T) {
	d := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	mm := d.t.NewMM("a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.t.Shootdown(ctx, mm)
	require.ErrorIs(t, err, context.Canceled, "a canceled context stops the shootdown")
	require.Zero(t, mm.Gen(), "before it bumps the generation")
}

// An IPI that fails is reported with the CPU, and counted as attempted.
// Mutants caught: none.
func TestShootdownIPIErrorNamesCPU(t *testing.T) {
	tlb, err := lazytlb.NewWithSender([]int{3}, func(context.Context, int, bool) (ctdefer.Delivery, error) {
		return ctdefer.IPI, ctdefer.ErrIPITimeout
	}, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err)
	c, err := tlb.CPU(3)
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	c.SwitchTo(mm)
	r, err := tlb.Shootdown(context.Background(), mm)
	require.ErrorIs(t, err, ctdefer.ErrIPITimeout, "the delivery error is wrapped")
	require.ErrorContains(t, err, "lazytlb: Shootdown(a): CPU 3", "with the MM and the CPU")
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "the result says what was attempted")
	require.Equal(t, uint64(1), tlb.Stats().IPIs, "Stats counts the failed send too")
}

// A CPU that leaves mm while its IPI is pending owes no flush: the failed
// send is not an error, whatever the CPU does next. Here its owner switches
// to another MM, so the CPU is OK again, but on that MM: the verdict is
// taken on mm's set, not on the state. The owner's Leave (inside SwitchTo)
// waits for the send to end, so it cannot join the other MM before.
// Mutants caught: none.
func TestShootdownCPULeftDuringFailedSend(t *testing.T) {
	var tlb *lazytlb.TLB
	var mm *lazytlb.MM
	var failing atomic.Bool
	switchNow := make(chan struct{})
	tlb, err := lazytlb.NewWithSender([]int{3}, func(context.Context, int, bool) (ctdefer.Delivery, error) {
		if !failing.Load() {
			return ctdefer.IPI, nil
		}
		close(switchNow)
		for len(mm.CPUs()) != 0 { // the owner is in Leave: its bit is clear
			runtime.Gosched()
		}
		return ctdefer.IPI, ctdefer.ErrIPITimeout
	}, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err)
	c, err := tlb.CPU(3)
	require.NoError(t, err)
	mm = tlb.NewMM("a")
	other := tlb.NewMM("b")
	c.SwitchTo(mm)
	switched := make(chan struct{})
	go func() { // the owner, from now on
		<-switchNow
		c.SwitchTo(other) // Leave (waits for the send), then join b: OK again
		close(switched)
	}()
	failing.Store(true)
	r, err := tlb.Shootdown(context.Background(), mm)
	require.NoError(t, err, "no flush is owed by a CPU that left mm while its IPI was pending")
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "the send was attempted")
	<-switched
	require.Equal(t, lazytlb.OK, c.State(), "the CPU is active again, on b")
	require.Equal(t, []int{3}, other.CPUs(), "b's set has it")
	require.Equal(t, uint64(1), tlb.Stats().LeaveWaits, "its Leave waited for the send: %v", tlb.Stats())
}

// The owner's calls panic when made from a state they do not apply to, and
// on a nil or foreign address space.
// Mutants caught: none.
func TestOwnerMisusePanics(t *testing.T) {
	d := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	other := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	c := d.cpu(t, 0)
	require.PanicsWithValue(t, "lazytlb: CPU.EnterLazy: not active on an address space", c.EnterLazy, "EnterLazy with nothing loaded")
	require.PanicsWithValue(t, "lazytlb: CPU.Leave: no address space loaded", c.Leave, "Leave with nothing loaded")
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchTo: nil MM or MM of another TLB", func() { c.SwitchTo(nil) }, "nil MM")
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchTo: nil MM or MM of another TLB",
		func() { c.SwitchTo(other.t.NewMM("x")) }, "foreign MM")
	a := d.t.NewMM("a")
	c.SwitchTo(a)
	require.False(t, c.SwitchTo(a), "SwitchTo of the active MM does nothing")
	require.Equal(t, lazytlb.OK, c.State(), "and leaves the CPU OK")
	c.EnterLazy()
	require.PanicsWithValue(t, "lazytlb: CPU.EnterLazy: not active on an address space", c.EnterLazy, "EnterLazy twice")
	require.PanicsWithValue(t, "lazytlb: TLB.owner: CPU 0 already has an owner handle", func() { _, _ = d.t.CPU(0) },
		"a second owner handle for one CPU")
}

// New refuses a nil Domain and a nil flush with an *ArgError naming the
// argument.
// Mutants caught: none.
func TestNewDomainErrors(t *testing.T) {
	_, err := lazytlb.New(nil, lazytlb.Options{Flush: nopFlush})
	requireArgError(t, err, "lazytlb.New", "d", "nil", "nil Domain")

	d := unpinnedDomain(t, ctdefer.Options{})
	_, err = lazytlb.New(d, lazytlb.Options{})
	requireArgError(t, err, "lazytlb.New", "opts.Flush", "nil", "nil flush")
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err, "New before Claim")
	_, err = tlb.CPU(0)
	requireArgError(t, err, "lazytlbsim.Owner", "tlb", "use TLB.Attach", "lazytlbsim.Owner on a TLB made by New: owners Attach")

	other := unpinnedDomain(t, ctdefer.Options{})
	w := startWorker(t, other, 0)
	w.do(func(c *ctdefer.CPU) {
		_, err := tlb.Attach(c)
		ae := requireArgError(t, err, "lazytlb.TLB.Attach", "c", "another Domain", "a CPU of another Domain")
		require.Equal(t, 0, ae.Value, "names the CPU")
	})
	_, err = lazytlb.New(other, lazytlb.Options{Flush: nopFlush})
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New after the first Claim")
	require.ErrorContains(t, err, "lazytlb: New", "wrapped")
}

// A Shootdown to a CPU whose worker never polls ends with the caller's
// deadline, naming the CPU (TestShootdownDeadlineVersusIPITimeout tells the
// caller's deadline from the Domain's IPITimeout).
// Mutants caught: none.
func TestShootdownTimeoutOnDomain(t *testing.T) {
	d := unpinnedDomain(t, ctdefer.Options{})
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	w := startWorker(t, d, 0)
	w.do(func(c *ctdefer.CPU) {
		tc, err := tlb.Attach(c)
		require.NoError(t, err)
		tc.SwitchTo(mm)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = tlb.Shootdown(ctx, mm) // the worker blocks in w's command loop: no poll
	require.ErrorIs(t, err, context.DeadlineExceeded, "the IPI was not handled by the caller's deadline")
	require.ErrorContains(t, err, "CPU 0", "the error names the CPU")
	w.do(func(c *ctdefer.CPU) {
		c.Poll() // handle the IPI, then leave before release
		tc, _ := tlb.Attach(c)
		tc.Leave()
	})
}
