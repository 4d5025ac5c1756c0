package ctdefer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Borrowing a parked CPU (unpark, tryBorrow, giveBack: borrows exclude the
// owner, delivery.md): the tests watch slot.park, which the public API
// does not show,
// to know that the owner has reached the step a mutant breaks, instead of
// guessing with a sleep.

// An owner whose park ends while a sender runs work on its behalf waits for
// the sender to give the CPU back (parkBorrowedWaited), and the give-back
// wakes it. Mutants unpark-ignores-borrow (the owner leaves at once, its
// IdleExit finding the word in the borrower's kernel stretch) and
// give-back-no-wake (the owner sleeps for good).
// Mutants caught: unpark-ignores-borrow, give-back-no-wake.
func TestOwnerWaitsForBorrowToEnd(t *testing.T) {
	f := newParkFixture(t)
	how := f.borrow(t)
	f.cancel() // end the park while the CPU is borrowed
	// Either the owner waits for the borrow (the real code), or it went on.
	var early error
	f.waitFor(t, "the owner waits for the borrow or leaves its park", func() bool {
		select {
		case early = <-f.idle:
			return true
		default:
		}
		return f.s.park.Load() == parkBorrowedWaited
	})
	if early != nil || f.s.park.Load() != parkBorrowedWaited {
		t.Fatalf("the owner left its park while a sender ran work on its behalf (Idle: %v)", early)
	}
	close(f.release)
	require.Equal(t, OnBehalf, recvWithin(t, "Defer of the RemoteSafe work", how))
	require.ErrorIs(t, recvWithin(t, "the owner's Idle after the give-back", f.idle), context.Canceled,
		"the give-back woke the owner, which left its park")
}

// An IPI posted while a sender borrows the parked CPU wakes the owner: the
// give-back, finding the owner not waiting for it, wakes no one, so the
// post's own wake-up is the only one.
// Mutant caught: wake-ignores-borrowed.
func TestIPIWhileBorrowedWakesOwner(t *testing.T) {
	f := newParkFixture(t)
	how := f.borrow(t)
	got, err := f.d.Defer(0, f.plain)
	require.NoError(t, err)
	require.Equal(t, IPI, got, "the borrowed CPU's word is in the kernel: an IPI")
	close(f.release)
	require.Equal(t, OnBehalf, recvWithin(t, "Defer of the RemoteSafe work", how))
	recvWithin(t, "the IPI posted while the CPU was borrowed", f.plainRuns)
	require.NoError(t, recvWithin(t, "the owner's Idle", f.idle), "the IPI woke the owner")
}
