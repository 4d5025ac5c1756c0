package ctdefer

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Owners: the registry of owner threads (one CPU per goroutine), and the
// reclaim of a CPU whose owner exited without Release.
//
// The slow paths ask ownerGone: a long wait, Close, a Claim of a busy CPU.
// An owner is gone if its thread (tid and start time) is definitely gone,
// or if the weak pointer to its handle reads nil. reclaimLocked then plays
// the owner for the word and the mailbox, and hands back what they held
// with ErrOwnerGone (the hand-back log, handback.go, tells waiters which).
//
// The protocol and its invariants (a live owner is never reclaimed, exited
// owners are reclaimed, reclaim releases the waiters, run or handed back,
// never both): docs/design/owner.md.

// ownerRec is one live owner, by thread.
type ownerRec struct {
	d     *Domain
	s     *slot
	start uint64
}

// owners maps the tid of every owner thread to its CPU, across Domains, so
// that a second Claim by the same goroutine is refused (ErrCPUBusy).
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

// ownerGone reports whether the owner of claimed slot s is gone (a live owner is never
// reclaimed).
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

// reclaimLocked takes s back from owner thread tid (owner.md, Exited owners;
// reclaim releases the waiters), which no
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
	// The queues' values the owner left (queue.go, Q5), after the word and
	// the mailbox: a value published before a delivery they held is there.
	for _, w := range d.works {
		if w.queue != nil {
			w.queue.reclaim(d.cpus.Of(s.cpu), gone)
		}
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
