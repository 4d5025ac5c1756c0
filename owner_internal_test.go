package ctdefer

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Taking back the CPU of an owner that exited without Release publishes the
// completions of what it hands back (reclaim releases the waiters,
// owner.md), so that the
// waiters of those deliveries return (with ErrOwnerGone) instead of waiting
// for an entry that will never come. The test reads the completion words
// right after the Claim that took the CPU back has returned, so nothing
// depends on how long a waiter would poll.
// Mutants caught: reclaim-no-done-seq, reclaim-no-ipi-done.
func TestReclaimPublishesCompletions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("an exited owner is detected through thread IDs, which only Linux gives without cgo")
	}
	d := internalDomain(t)
	ran := 0
	w, err := d.Register("w", func(int) { ran++ })
	require.NoError(t, err)

	// CPU 0's owner exits in user mode with a deferred delivery pending: its
	// completion is the entry after the User word it was accepted in. CPU
	// 1's exits in the kernel with an IPI pending: its completion is the
	// mailbox generation the post returned.
	want := make([]uint64, 2)
	for cpu, user := range []bool{true, false} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := d.Claim(cpu)
			if err != nil {
				panic(err)
			}
			s := &d.slots[cpu]
			if user {
				c.UserEnter()
				want[cpu] = servedBy(s.word.Snapshot())
			} else {
				want[cpu] = s.mbox.v.Load()>>mboxGenShift + 1
			}
			how, err := d.Defer(cpu, w)
			if err != nil || (how == Deferred) != user {
				panic(fmt.Sprintf("setup: Defer to CPU %d: %v, %v", cpu, how, err))
			}
			// Return locked to the thread, without Release: Go ends the thread.
		}()
		<-done
	}

	for cpu := range 2 {
		s := &d.slots[cpu]
		c := claimBack(t, d, cpu)
		if cpu == 0 {
			require.Equal(t, want[cpu], s.doneSeq.Load(),
				"CPU 0: the kernel entry made on the exited owner's behalf is published as done")
		} else {
			require.Equal(t, want[cpu], s.ipiDone.Load(),
				"CPU 1: the mailbox generation taken from the exited owner is published as done")
		}
		require.NoError(t, c.Release())
	}
	require.Zero(t, ran, "handed-back work never runs")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = d.Close(ctx)
	var ue *UndeliveredError
	require.ErrorAs(t, err, &ue, "Close lists the handed-back deliveries")
	require.Len(t, ue.Pending, 2)
	for _, p := range ue.Pending {
		require.ErrorIs(t, p.Err, ErrOwnerGone)
	}
}
