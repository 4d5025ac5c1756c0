package ctdefer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Borrowing a parked CPU (unpark, tryBorrow, giveBack: borrows exclude the
// owner, delivery.md): the tests watch slot.park, which the public API
// does not show,
// to know that the owner has reached the step a mutant breaks, instead of
// guessing with a sleep.

const mutParkLimit = 10 * time.Second

// parkFixture is a one-CPU Domain whose owner goroutine parks in Idle until
// its context is cancelled or a wake-up ends the park; Idle's result (or its
// panic, as an error) arrives on idle, and the owner then releases.
type parkFixture struct {
	d      *Domain
	s      *slot
	cancel context.CancelFunc
	idle   chan error
	// borrowed is closed by the RemoteSafe work when it runs; the work
	// then blocks until release is closed.
	borrowed, release chan struct{}
	safe, plain       Work
	plainRuns         chan struct{} // one value per run of the plain work
}

func newParkFixture(t *testing.T) *parkFixture {
	t.Helper()
	d, err := New(Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	f := &parkFixture{
		d: d, s: &d.slots[0], idle: make(chan error, 1),
		borrowed: make(chan struct{}), release: make(chan struct{}), plainRuns: make(chan struct{}, 8),
	}
	f.safe, err = d.Register("safe", func(int) {
		close(f.borrowed)
		<-f.release
	}, RemoteSafe())
	require.NoError(t, err)
	f.plain, err = d.Register("plain", func(int) { f.plainRuns <- struct{}{} })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	claimed := make(chan error)
	go func() {
		c, err := d.Claim(0)
		claimed <- err
		if err != nil {
			return
		}
		f.idle <- func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("Idle panicked: %v", r)
				}
			}()
			return c.Idle(ctx)
		}()
		func() {
			defer func() { _ = recover() }() // after a mutant's panic the word may be off
			_ = c.Release()
		}()
	}()
	require.NoError(t, <-claimed)
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		cancel()
		ctx, cancelClose := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelClose()
		_ = d.Close(ctx)
	})
	f.waitFor(t, "the owner parks", func() bool {
		return f.s.word.Snapshot().State() == ctseq.Idle && f.s.park.Load() == parkParked
	})
	return f
}

// waitFor waits for a state the real code reaches by itself.
func (f *parkFixture) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutParkLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v (park state %d)", what, mutParkLimit, f.s.park.Load())
		}
	}
}

// borrow delivers the RemoteSafe work on a new goroutine and returns once
// it runs on the parked CPU's behalf (blocked until f.release is closed);
// the delivery's result arrives on the returned channel.
func (f *parkFixture) borrow(t *testing.T) <-chan Delivery {
	t.Helper()
	how := make(chan Delivery, 1)
	go func() {
		h, err := f.d.Defer(0, f.safe)
		if err != nil {
			panic(err)
		}
		how <- h
	}()
	select {
	case <-f.borrowed:
	case <-time.After(mutParkLimit):
		t.Fatalf("the RemoteSafe work did not run within %v", mutParkLimit)
	}
	require.Equal(t, uint64(parkBorrowed), f.s.park.Load(), "setup: the sender borrowed the parked CPU")
	return how
}

func recvWithin[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mutParkLimit):
		t.Fatalf("%s: nothing after %v (a hang)", what, mutParkLimit)
	}
	panic("unreachable")
}

// An owner whose park ends while a sender runs work on its behalf waits for
// the sender to give the CPU back (parkBorrowedWaited), and the give-back
// wakes it. Mutants unpark-ignores-borrow (the owner leaves at once, its
// IdleExit finding the word in the borrower's kernel stretch) and
// give-back-no-wake (the owner sleeps for good).
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
// post's own wake-up is the only one. Mutant wake-ignores-borrowed.
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
