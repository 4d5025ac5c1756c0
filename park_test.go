package ctdefer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// An IPI posted (and its wake-up sent) after the parked owner has checked
// its mailbox, but before it sleeps, is not lost: the owner read the futex
// value before the checks, so the wake-up's bump makes its sleep return at
// once. This catches a futex read moved to just before the sleep (mutant
// futex-read-after-check) in the ordinary build; a read moved anywhere else
// after the mailbox check is caught by TestInjectWakeUpAfterParkCheck
// (mailbox_internal_test.go, under the ctdefer_explore tag), which the
// catalogue names.
// Mutants caught: none.
func TestParkedOwnerSeesIPIPostedBeforeItSleeps(t *testing.T) {
	d := mutDomain(t)
	cnt := newCounter()
	w, err := d.Register("count", cnt.handler)
	require.NoError(t, err)
	ctx := &hookCtx{Context: context.Background()}
	ctx.hook = func() {
		// On the owner, inside its park loop: the word is Idle and the
		// park published, so this posts an IPI and wakes the CPU.
		how, err := d.Defer(0, w)
		if err != nil || how != ctdefer.IPI {
			panic("setup: the delivery to the parked CPU must be an IPI")
		}
	}
	ctx.armed.Store(true)
	claimed, idle := make(chan error), make(chan error, 1)
	go func() {
		c, err := d.Claim(0)
		claimed <- err
		if err != nil {
			return
		}
		idle <- c.Idle(ctx) // parks, checks, delivers to itself in ctx.Err, sleeps
		_ = c.Release()
	}()
	require.NoError(t, <-claimed)
	require.NoError(t, mutWait(t, "Idle with an IPI posted before its sleep", idle),
		"the wake-up made the sleep return and Idle handled the IPI")
	require.False(t, ctx.armed.Load(), "setup: the hook ran")
	require.Equal(t, 1, cnt.get(0), "the IPI ran")
}
