package ctdefer_test

// Owners that exit without Release (owner.go): whoever finds the owner
// gone next (a DeferWait, a Close, a Claim) takes the CPU back. Through the
// public API only, on edge Domains (helpers_test.go).

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// Item 4: an owner that exits without Release is found by a DeferWait that
// waits; the work is handed back with ErrOwnerGone, the CPU can be claimed
// again, and Close neither hangs nor forgets the fire-and-forget delivery.
// Mutants caught: none.
func TestOwnerGoneFoundByDeferWait(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	fire, err := d.Register("fire", cnt.handler)
	require.NoError(t, err)
	waitw, err := d.Register("wait", cnt.handler)
	require.NoError(t, err)
	exitWithoutRelease(t, d, 0, true)
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, fire), "the dead owner's word is still in user mode")

	var werr error
	within(t, "DeferWait to a dead owner", func() { werr = d.DeferWait(context.Background(), 0, waitw) })
	require.ErrorIs(t, werr, ctdefer.ErrOwnerGone, "the wait finds the owner gone")
	require.NotErrorIs(t, werr, ctdefer.ErrIPITimeout)
	require.Contains(t, werr.Error(), "Release", "the error hints at the missing Release")
	require.False(t, d.Claimed(0), "the CPU was taken back")
	require.Equal(t, uint64(1), d.Stats().OwnersGone)

	o := startOwner(t, d, 0) // the CPU can be claimed again
	o.stop()
	require.Zero(t, cnt.get(0), "handed-back work never runs, not even for the next owner")

	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue)
	require.ErrorIs(t, cerr, ctdefer.ErrOwnerGone)
	names := map[string]bool{}
	for _, p := range ue.Pending {
		require.Equal(t, 0, p.CPU)
		require.ErrorIs(t, p.Err, ctdefer.ErrOwnerGone)
		names[p.Work.String()] = true
	}
	require.Equal(t, map[string]bool{"fire": true, "wait": true}, names, "both deliveries are accounted for")
}

// Item 4: Close finds an exited owner by itself (no DeferWait) and returns.
// Mutants caught: none.
func TestOwnerGoneFoundByClose(t *testing.T) {
	for _, user := range []bool{true, false} {
		t.Run(map[bool]string{true: "user", false: "kernel"}[user], func(t *testing.T) {
			d := edgeDomain(t)
			cnt := newCounter()
			w, err := d.Register("left", cnt.handler)
			require.NoError(t, err)
			exitWithoutRelease(t, d, 1, user)
			want := map[bool]ctdefer.Delivery{true: ctdefer.Deferred, false: ctdefer.IPI}[user]
			require.Equal(t, want, requireDefer(t, d, 1, w))
			var cerr error
			within(t, "Close with an exited owner", func() { cerr = d.Close(context.Background()) })
			var ue *ctdefer.UndeliveredError
			require.ErrorAs(t, cerr, &ue)
			require.Len(t, ue.Pending, 1)
			require.Equal(t, "left", ue.Pending[0].Work.String())
			require.ErrorIs(t, ue.Pending[0].Err, ctdefer.ErrOwnerGone)
			require.Zero(t, cnt.get(1))
		})
	}
}

// Item 4: a Claim of the CPU finds the exited owner and succeeds.
// Mutants caught: none.
func TestOwnerGoneFoundByClaim(t *testing.T) {
	d := edgeDomain(t)
	_, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	exitWithoutRelease(t, d, 0, false)
	var last error
	eventually(t, "Claim of an exited owner's CPU", func() bool {
		res := make(chan error)
		go func() {
			c, err := d.Claim(0)
			if err == nil {
				err = c.Release()
			}
			res <- err
		}()
		last = <-res
		if last != nil && !errors.Is(last, ctdefer.ErrCPUBusy) {
			return true // not the expected refusal: stop and report it
		}
		return last == nil // busy only until the thread has ended
	})
	require.NoError(t, last)
	require.Equal(t, uint64(1), d.Stats().OwnersGone)
}

// Item 4: a handle collected before Release is a lost owner even while its
// goroutine and thread live on (nobody can Release the CPU any more): after
// a collection a Claim of the CPU succeeds.
// Mutants caught: none.
func TestOwnerGoneHandleCollected(t *testing.T) {
	d := edgeDomain(t)
	_, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	claimed, stop := make(chan error), make(chan struct{})
	go func() {
		_, err := d.Claim(0) // the handle is dropped at once
		claimed <- err
		<-stop // the owner's goroutine (and thread) live on
		runtime.UnlockOSThread()
	}()
	require.NoError(t, <-claimed)
	defer close(stop)
	res := make(chan error)
	claim := func() error {
		go func() {
			c, err := d.Claim(0)
			if err == nil {
				err = c.Release()
			}
			res <- err
		}()
		return <-res
	}
	runtime.GC() // collects the handle: its weak pointer reads nil from now on
	require.NoError(t, claim(), "the handle was collected: the claim is lost")
	require.Equal(t, uint64(1), d.Stats().OwnersGone)
}
