package ctdefer

import (
	"context"
)

// Parking: the owner sleeps in Idle without losing a wake-up; senders wake
// it, or borrow it to run RemoteSafe work on its behalf. The protocol and its
// invariants (no lost wake-up, borrows exclude the owner):
// docs/design/delivery.md, Protocol: parking (its steps 1 to 7 are the ones
// named below).
//
// slot.park holds one of:
const (
	parkRunning        uint64 = iota // the owner is not parked
	parkParked                       // the owner is parked (or about to sleep)
	parkBorrowed                     // a sender runs work on the owner's behalf
	parkBorrowedWaited               // ditto, and the owner waits for it to end
)

// unpark leaves the park (parking step 3); it waits while a borrower holds
// the CPU (borrows exclude the owner).
func (s *slot) unpark() {
	for {
		// CAS: leave parked; fails if a borrower holds the CPU. Pairs
		// with the borrower's CAS in tryBorrow.
		if s.park.CompareAndSwap(parkParked, parkRunning) {
			return
		}
		v := s.loadWake()
		switch s.park.Load() { // load: what the borrower left
		case parkBorrowed:
			// CAS: ask the borrower to wake us (pairs with its Swap).
			s.park.CompareAndSwap(parkBorrowed, parkBorrowedWaited)
		case parkBorrowedWaited:
			s.sleep(v)
		}
	}
}

// tryBorrow takes a parked CPU for a run on behalf (parking step 6; borrows
// exclude the owner).
func (s *slot) tryBorrow() bool {
	// CAS: take the parked CPU; pairs with the owner's CAS in unpark.
	return s.park.CompareAndSwap(parkParked, parkBorrowed)
}

// giveBack hands a borrowed CPU back and wakes an owner waiting for it
// (parking step 7; no lost wake-up).
func (s *slot) giveBack() {
	// swap: hand the CPU back; pairs with the owner's CAS in unpark.
	if s.park.Swap(parkParked) == parkBorrowedWaited {
		s.wakeUp()
	}
}

// wakeIfParked wakes a parked (or borrowed) owner after a post (parking
// step 5; no lost wake-up).
func (s *slot) wakeIfParked() {
	// load: pairs with the owner's Store of parkParked in parkUntil (no lost wake-up).
	if s.park.Load() != parkRunning {
		s.wakeUp()
	}
}

// loadWake reads the futex word (load: pairs with the increment in wakeUp).
func (s *slot) loadWake() uint32 { return s.wake.Load() }

// sleep blocks the calling thread while the futex word == v. The kernel
// compares and sleeps atomically, so a wakeUp that bumped the word after v
// was read either makes it return at once or wakes it. Spurious returns are
// fine: every caller re-checks its condition.
func (s *slot) sleep(v uint32) { s.wake.Wait(v) }

// wakeUp bumps the futex word and wakes the sleeper, if any.
func (s *slot) wakeUp() {
	s.wake.Add(1) // RMW: invalidates every v read before; pairs with loadWake
	s.wake.Wake()
}

func (s *slot) initPark() { s.wake.Init() }

// parkUntil publishes "parked" and sleeps until there is work (parking
// steps 1 and 2; no lost wake-up). It returns nil when there is work to
// handle, ErrClosed when the domain is closing, ctx's error when ctx ends.
func (s *slot) parkUntil(ctx context.Context, closed func() bool) error {
	// store: publish "parked" before the last look at the mailbox (no lost wake-up).
	s.park.Store(parkParked)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, s.wakeUp)
		defer stop()
	}
	for {
		v := s.loadWake()
		if s.mbox.pending() || s.resched.full() {
			return nil
		}
		if closed() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.sleep(v)
	}
}
