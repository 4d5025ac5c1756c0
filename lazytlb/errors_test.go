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

func nopFlush(int, *lazytlb.MM, uint64) {}

func nopSend(context.Context, int, bool) (ctdefer.Delivery, error) { return ctdefer.IPI, nil }

func TestNewWithSenderErrors(t *testing.T) {
	ok := lazytlb.Options{Flush: nopFlush}
	for _, tc := range []struct {
		name string
		cpus []int
		send lazytlb.SendFunc
		opts lazytlb.Options
		want error
		in   string
	}{
		{"nil sender", []int{0}, nil, ok, lazytlb.ErrNilSender, "nil sender"},
		{"nil flush", []int{0}, nopSend, lazytlb.Options{}, lazytlb.ErrNilFlush, "flush"},
		{"bad policy", []int{0}, nopSend, lazytlb.Options{Flush: nopFlush, Policy: 7}, lazytlb.ErrBadPolicy, "Policy(7)"},
		{"empty", nil, nopSend, ok, lazytlb.ErrBadCPU, "empty"},
		{"negative", []int{-1}, nopSend, ok, lazytlb.ErrBadCPU, "CPU -1"},
		{"too large", []int{ctdefer.MaxCPU + 1}, nopSend, ok, lazytlb.ErrBadCPU, "out of range"},
		{"duplicate", []int{1, 1}, nopSend, ok, lazytlb.ErrBadCPU, "CPU 1 listed twice"},
	} {
		_, err := lazytlb.NewWithSender(tc.cpus, tc.send, tc.opts)
		require.ErrorIs(t, err, tc.want, "%s", tc.name)
		require.ErrorContains(t, err, tc.in, "%s: the error names the value", tc.name)
		require.ErrorContains(t, err, "lazytlb: NewWithSender", "%s: the error names the function", tc.name)
	}
}

func TestBadCPUErrors(t *testing.T) {
	d := newDirect(t, []int{0, 2}, lazytlb.PolicyLazy)
	_, err := d.t.CPU(1)
	require.ErrorIs(t, err, lazytlb.ErrBadCPU, "CPU 1 is not in the TLB")
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "the same sentinel as the root package")
	require.ErrorContains(t, err, "TLB.CPU(1)", "names the value")
	_, err = d.t.NewMM("a").Flushed(7)
	require.ErrorIs(t, err, lazytlb.ErrBadCPU, "Flushed of an unknown CPU")
	require.Equal(t, lazytlb.Off, d.t.State(99), "State of an unknown CPU is Off")
	require.PanicsWithValue(t, "lazytlb: TLB.HandleIPI: CPU 5 not in the TLB [0 2]", func() { d.t.HandleIPI(5) },
		"HandleIPI of an unknown CPU is a sender bug")
}

func TestShootdownForeignMM(t *testing.T) {
	a := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	b := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	_, err := a.t.Shootdown(context.Background(), b.t.NewMM("b"))
	require.ErrorIs(t, err, lazytlb.ErrForeignMM, "MM of another TLB")
	require.ErrorContains(t, err, "mm b", "names the MM")
	_, err = a.t.Shootdown(context.Background(), nil)
	require.ErrorIs(t, err, lazytlb.ErrForeignMM, "nil MM")
}

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

func TestOwnerMisusePanics(t *testing.T) {
	d := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	other := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	c := d.cpu(t, 0)
	require.PanicsWithValue(t, "lazytlb: CPU.EnterLazy: not active on an address space", c.EnterLazy, "EnterLazy with nothing loaded")
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchBack: not lazy", func() { c.SwitchBack() }, "SwitchBack with nothing loaded")
	require.PanicsWithValue(t, "lazytlb: CPU.Leave: no address space loaded", c.Leave, "Leave with nothing loaded")
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchTo: nil MM or MM of another TLB", func() { c.SwitchTo(nil) }, "nil MM")
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchTo: nil MM or MM of another TLB",
		func() { c.SwitchTo(other.t.NewMM("x")) }, "foreign MM")
	c.SwitchTo(d.t.NewMM("a"))
	require.PanicsWithValue(t, "lazytlb: CPU.SwitchBack: not lazy", func() { c.SwitchBack() }, "SwitchBack while OK")
	c.EnterLazy()
	require.PanicsWithValue(t, "lazytlb: CPU.EnterLazy: not active on an address space", c.EnterLazy, "EnterLazy twice")
	require.PanicsWithValue(t, "lazytlb: TLB.CPU: CPU 0 already has an owner handle", func() { _, _ = d.t.CPU(0) },
		"a second owner handle for one CPU")
}

func TestNewDomainErrors(t *testing.T) {
	_, err := lazytlb.New(nil, lazytlb.Options{Flush: nopFlush})
	require.ErrorIs(t, err, lazytlb.ErrNilArgument, "nil Domain")

	d := unpinnedDomain(t, ctdefer.Options{})
	_, err = lazytlb.New(d, lazytlb.Options{})
	require.ErrorIs(t, err, lazytlb.ErrNilFlush, "nil flush")
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err, "New before Claim")
	_, err = tlb.CPU(0)
	require.ErrorIs(t, err, lazytlb.ErrWrongDomain, "TLB.CPU on a TLB made by New: owners Attach")
	require.ErrorContains(t, err, "use Attach")

	other := unpinnedDomain(t, ctdefer.Options{})
	w := startWorker(t, other, 0)
	w.do(func(c *ctdefer.CPU) {
		_, err := tlb.Attach(c)
		require.ErrorIs(t, err, lazytlb.ErrWrongDomain, "a CPU of another Domain")
	})
	_, err = lazytlb.New(other, lazytlb.Options{Flush: nopFlush})
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New after the first Claim")
	require.ErrorContains(t, err, "lazytlb: New", "wrapped")
}

// A Shootdown to a CPU whose worker never polls ends with the caller's
// deadline, naming the CPU (TestShootdownDeadlineVersusIPITimeout tells the
// caller's deadline from the Domain's IPITimeout).
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
