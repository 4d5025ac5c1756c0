package ctdefer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/inlinecheck"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// KernelEnter runs the work deferred while the CPU was in user mode first,
// then the IPIs posted meanwhile, as documented: a deferred flush of kernel
// state comes before any kernel-mode code, IPI handlers included. The owner
// is driven step by step; the order is what the handlers recorded. Mutant
// kernelenter-ipis-first.
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
// that Idle handles without parking. Mutant idle-ipis-before-exit.
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
