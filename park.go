package ctdefer

import (
	"context"
)

// Parking: how an owner sleeps in Idle without losing a wake-up, and how a
// sender runs remote-safe work on behalf of a parked owner.
//
// slot.park holds one of:
const (
	parkRunning        uint64 = iota // the owner is not parked
	parkParked                       // the owner is parked (or about to sleep)
	parkBorrowed                     // a sender runs work on the owner's behalf
	parkBorrowedWaited               // ditto, and the owner waits for it to end
)

// The owner's side (Idle):
//
//  1. word.IdleEnter, then park.Store(parkParked): from here senders see an
//     idle CPU; they post IPIs and wake it, or borrow it.
//  2. Loop: v := wakeSeq (load); if the mailbox has work, a full reschedule
//     request is pending (resched.go), the domain is closing or ctx is
//     done, stop; else sleep on wakeSeq while it equals v.
//  3. Unpark: CAS parkParked -> parkRunning. If a sender has borrowed the
//     CPU, mark parkBorrowedWaited and sleep until it gives the CPU back.
//  4. word.IdleExit, then handle IPIs.
//
// The sender's side (after posting to the mailbox):
//
//  5. If park (load) is not parkRunning: wakeSeq++ and wake the sleeper.
//     Domain.Resched does the same after setting a full request.
//
// Why no wake-up is lost (all Go atomics are sequentially consistent, so
// there is one total order of these steps): suppose the owner's mailbox check
// in step 2 misses the post. Then that check precedes the post, so the
// owner's Store in step 1 precedes the sender's load in step 5, which
// therefore sees a parked CPU and bumps wakeSeq after the owner read v in
// step 2: the owner's sleep (which the kernel only starts if wakeSeq still
// equals v) returns at once or is woken. If instead step 5 sees parkRunning,
// the owner has already left its sleep and will handle the post at its next
// poll point, as for any CPU in the kernel. This is Seastar's rule: senders
// signal only sleepers, and the sleeper's publication of "sleeping" is
// ordered before its last look at the queue.
//
// Borrowing (remote-safe work on a parked owner, HotSpot's handshake rule):
//
//  6. The sender CASes parkParked -> parkBorrowed; if that fails the owner
//     is not parked and the sender posts an IPI instead.
//  7. It runs the handler, then Swaps parkParked back; if the old value was
//     parkBorrowedWaited the owner is waiting in step 3: wake it.
//
// While borrowed, the owner cannot pass step 3, so the handler never runs
// concurrently with the owner's own code.

// unpark is step 3.
func (s *slot) unpark() {
	for {
		// CAS: leave parked; fails if a borrower holds the CPU. Pairs
		// with the borrower's CAS in step 6.
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

// tryBorrow is step 6.
func (s *slot) tryBorrow() bool {
	// CAS: take the parked CPU; pairs with the owner's CAS in unpark.
	return s.park.CompareAndSwap(parkParked, parkBorrowed)
}

// giveBack is step 7.
func (s *slot) giveBack() {
	// swap: hand the CPU back; pairs with the owner's CAS in unpark.
	if s.park.Swap(parkParked) == parkBorrowedWaited {
		s.wakeUp()
	}
}

// wakeIfParked is step 5.
func (s *slot) wakeIfParked() {
	// load: pairs with the owner's Store in step 1 (see above).
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

// parkUntil is steps 1 and 2. It returns nil when there is work to handle,
// ErrClosed when the domain is closing, ctx's error when ctx ends.
func (s *slot) parkUntil(ctx context.Context, closed func() bool) error {
	// store: publish "parked" before the last look at the mailbox (step 1).
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
