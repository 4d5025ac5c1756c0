package ctdefer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/stretchr/testify/require"
)

// A deferred delivery that ran is reported as run, even when an IPI with the
// same number (a mailbox generation equal to the entry's sequence) was
// handed back from an exited owner before: the hand-back log is keyed by the
// kind of ticket too, and a wait looks only at the hand-backs made since its
// delivery began (TestHandBackMatchIsExact catches mutant
// handed-back-ignores-kind, which this test no longer can: the IPI's
// hand-back comes before the delivery).
// Mutant caught: handed-back-ignores-kind.
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
