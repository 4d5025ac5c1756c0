package ctdefer

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Owners, and what happens when one disappears.
//
// A worker claims a CPU with its goroutine locked to its OS thread. If the
// goroutine returns (or panics out) without Release, Go ends the thread with
// it, and nobody will ever make the CPU's transitions again: work deferred to
// its word, or posted to its mailbox, would wait forever, and the CPU would
// stay claimed. The runtime finds such owners on its slow paths:
//
//  1. Claim records the owner's thread: its tid and its start time (the pair
//     names one thread for good; the kernel recycles tids, but a recycled tid
//     belongs to a thread that started later).
//  2. A DeferWait that waits long, Close while it waits for the workers, and
//     a Claim of a busy CPU ask whether that thread still exists
//     (sysx.ThreadAlive). Only a definite "gone" counts; an unknown answer
//     (no thread IDs on this platform) never reclaims by itself.
//     One thread never ends: Go parks the process's main thread forever
//     when a goroutine locked to it exits, because ending it would end the
//     process. For that case (and platforms without thread IDs) Claim also
//     keeps a weak pointer to the *CPU handle (slot.handle): once the
//     owner's goroutine is gone, nothing references the handle, and after
//     the next garbage collection the weak pointer reads nil: the claim is
//     lost. The same slow paths run a collection when the owner is on the
//     main thread and the wait drags on. A handle collected while its
//     goroutine lives on is a lost owner just the same: without the handle
//     nobody can make the CPU's transitions or Release it. (No cleanup
//     marks the slot: it would write shared words from the runtime's
//     cleanup goroutine, at any time, outside the threads an interleaving
//     explorer schedules.)
//  3. If it is gone, reclaim takes the CPU back under d.mu (one reclaimer per
//     CPU): it plays the owner for the word (the owner's thread no longer
//     exists, so no other owner transition can race), which claims the
//     pending work bits exactly as a kernel entry would, claims the mailbox,
//     records both in the hand-back log (handback.go), then publishes the completions
//     (DeferWait waiters then find their work in the log and return an error
//     wrapping ErrOwnerGone) and unclaims the CPU. Later deliveries go to the
//     mailbox, as for any CPU nobody holds.
//
// Handed-back work is never also run: the reclaimer takes it out of the word
// and the mailbox by the same atomic steps that an owner's run would use, so
// each delivery is either run by an owner or handed back, never both.

// ownerRec is one live owner, by thread.
type ownerRec struct {
	d     *Domain
	s     *slot
	start uint64
}

// owners maps the tid of every owner thread to its CPU, across Domains, so
// that a second Claim by the same goroutine is refused (ErrAlreadyOwner).
// Lock order: a Domain's mu before ownersMu, never the reverse.
var (
	ownersMu sync.Mutex
	owners   = map[int]ownerRec{}
)

func registerOwner(tid int, r ownerRec) {
	if tid <= 0 {
		return // no thread IDs on this platform
	}
	ownersMu.Lock()
	owners[tid] = r
	ownersMu.Unlock()
}

func unregisterOwner(tid int, s *slot) {
	if tid <= 0 {
		return
	}
	ownersMu.Lock()
	if r, ok := owners[tid]; ok && r.s == s {
		delete(owners, tid)
	}
	ownersMu.Unlock()
}

func lookupOwner(tid int) (ownerRec, bool) {
	if tid <= 0 {
		return ownerRec{}, false
	}
	ownersMu.Lock()
	defer ownersMu.Unlock()
	r, ok := owners[tid]
	return r, ok
}

// ownerGoneError is the error for work an exited owner left behind.
func ownerGoneError(cpu, tid int) error {
	return fmt.Errorf("ctdefer: CPU %d: owner thread %d exited without Release "+
		"(did the worker goroutine return or panic before calling CPU.Release? "+
		"defer c.Release() right after Claim): %w", cpu, tid, ErrOwnerGone)
}

// ownerGone reports whether the owner of claimed slot s is gone (step 2).
// With collect, an owner that only a collection can show gone (on the main
// thread, or where threads have no IDs) gets one.
func ownerGone(s *slot, collect bool) bool {
	tid := int(s.ownerTid.Load())                               // load: the owner's thread, stored at Claim under mu
	if tid > 0 && !sysx.ThreadAlive(tid, s.ownerStart.Load()) { // loads: the owner recorded at Claim, under mu
		return true
	}
	// The claim is lost once the weak pointer to its handle reads nil. A
	// collection clears the weak pointers to unreachable objects before it
	// returns: run one first where only it can tell. (Before the load, not
	// between two loads, so that the atomic steps are the same whichever
	// thread the owner ran on: the interleaving explorer replays a run by
	// its steps, and which goroutine lands on the main thread is the Go
	// scheduler's choice.)
	if collect && (tid <= 0 || tid == mainThread) {
		runtime.GC()
	}
	h := s.handle.Load() // load: the claim's handle, stored at Claim under mu
	return h != nil && h.Value() == nil
}

// mainThread is the tid of the process's main thread (its pid).
var mainThread = os.Getpid()

// reapIfDead reclaims s if its owner is gone, and reports whether it did.
// collect allows a garbage collection to find out (see ownerGone).
func (d *Domain) reapIfDead(s *slot, collect bool) bool {
	// load: cheap filter; the decision is re-made under d.mu.
	if !s.claimed.Load() { // load: cheap filter, re-checked under mu
		return false
	}
	if !ownerGone(s, collect) {
		return false
	}
	d.mu.Lock()
	reaped, tid, handed := d.reapIfDeadLocked(s, false)
	d.mu.Unlock()
	if reaped {
		d.logOwnerGone(s.cpu, tid, handed) // after the unlock: a Logger may be slow
	}
	return reaped
}

// reapIfDeadLocked is reapIfDead with d.mu held. It returns the thread of
// the owner it reclaimed and the work it handed back.
func (d *Domain) reapIfDeadLocked(s *slot, collect bool) (reaped bool, tid int, handed ctseq.Work) {
	if !s.claimed.Load() { // load under mu: Claim and reclaim change it under mu too
		return false, 0, 0
	}
	if !ownerGone(s, collect) {
		return false, 0, 0
	}
	tid = int(s.ownerTid.Load()) // load under mu: the owner being reclaimed
	return true, tid, d.reclaimLocked(s, tid)
}

// reclaimLocked is step 3: take s back from owner thread tid, which no
// longer exists, and return the work it handed back. Called with d.mu held.
func (d *Domain) reclaimLocked(s *slot, tid int) (handed ctseq.Work) {
	gone := ownerGoneError(s.cpu, tid)
	// The owner is gone, so this goroutine is the only one that can make
	// transitions of the word: Enter moves it to Kernel (from User it is a
	// kernel entry that claims every bit accepted so far, each exactly once;
	// from then on senders are refused and post to the mailbox).
	if e := s.word.Enter(); e.Outer() {
		work := e.Work()
		if s.policy.Load() == policyFlushOnEntry { // load: the dead owner's policy
			// Deliveries set no bit under FlushOnEntry: any work may
			// have been deferred since the last entry.
			work = d.all
		}
		// load: the sequence of the entry just made (nobody else moves it).
		seq := s.word.Snapshot().Seq()
		if work != 0 {
			d.hand.add(d, s, ticketDeferred, seq, work, gone)
			handed |= work
		}
		s.doneSeq.Store(seq) // store: after the log entry; pairs with the load in wait
	}
	if work, gen := s.mbox.claim(); work != 0 {
		handed |= work
		d.hand.add(d, s, ticketIPI, gen, work, gone)
		s.ipiDone.Store(gen) // store: after the log entry; pairs with the load in wait
	}
	s.policy.Store(policyTracked) // store: the next Claim sets its own
	unregisterOwner(tid, s)
	s.ownerTid.Store(0)     // store: diagnostics only
	s.claimed.Store(false)  // store under mu: the CPU is free (pairs with the CAS in Claim)
	d.claimers.Dec()        // RMW: pairs with Close's load
	s.sstats.reclaims.Inc() // statistics only
	releaseWorker()         // headroom.go: the process has one worker fewer
	return handed
}
