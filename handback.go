package ctdefer

import (
	"errors"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// The hand-back log: the deliveries taken out of a word or a mailbox without
// being run (Close, an exited owner), for the waiters of those deliveries
// (DeferWait, DeferWaitAll, Send, IPI) and for Close's report.
//
//  1. A waiter counts itself on its slot (waiters, or ipiWaiters for a
//     wait that only an IPI can need) and then takes its mark: the number
//     of hand-backs so far (handLog.n). Both come before its delivery's
//     step 1, and the count lasts until its wait has read the log.
//  2. A hand-back appends an entry numbered n, then increments n, both
//     before the completion store (doneSeq or ipiDone) that releases the
//     entry's waiters.
//  3. A waiter that has seen its completion loads n. Equal to its mark: no
//     hand-back happened since its delivery began, so the delivery ran (one
//     load, no lock, however many hand-backs came before). Otherwise it
//     looks for its entry among those numbered from its mark on. The
//     hand-back of its delivery follows the delivery (it takes the bit the
//     delivery set or posted), so its entry is there (exact match); an entry
//     from before the delivery is never looked at, even one with the same
//     sequence or generation (a delivery 2^45 transitions earlier, or an
//     IPI generation equal to a deferred delivery's sequence).
//  4. Bounded memory. An append that finds no slot counting a waiter first
//     empties the log: it holds only the hand-backs made since the last one
//     that found no wait in progress. Why no waiter loses its entry: an
//     append A that empties the log either loads a waiter W's count after
//     W counted itself (then it sees W and keeps everything), or before:
//     then W's mark, taken after its count, is at least A's own number, and
//     A drops only entries numbered below it. Close's report is kept apart,
//     one entry per CPU, work and reason: it is bounded by the Domain.
//
// Hand-backs are rare (Close, exited owners), so the log's mutex is taken
// only on them and by the waits they concern.
type handLog struct {
	_ atomicx.Align64
	// n is the number of hand-backs so far: the next entry's number.
	// Incremented under mu after the append; loaded without mu by waiters.
	n  atomicx.Uint64
	mu atomicx.Mutex // guards the fields below
	// entries are numbered base, base+1, ...: the log for waiters.
	entries []handBack
	base    uint64
	// report is Close's list: one Pending per CPU, work and reason (the
	// first error of each), in the order of their first hand-back.
	pending []Pending
}

// handBack is one entry of the log.
type handBack struct {
	s    *slot
	kind uint8      // ticketDeferred (seq is a word sequence) or ticketIPI (a mailbox generation)
	seq  uint64     // the completion the deliveries were waiting for
	work ctseq.Work // the deliveries handed back
	err  error      // why: ErrClosed, or an error wrapping ErrOwnerGone
}

// mark is step 1's mark; the caller has counted itself on its slot.
func (l *handLog) mark() uint64 {
	return l.n.Load() // load: after the waiter's count; pairs with the increment in add (step 4)
}

// add is step 2: it records work taken out of s without being run, for
// completion seq of the given kind, before the caller's completion store.
func (l *handLog) add(d *Domain, s *slot, kind uint8, seq uint64, work ctseq.Work, err error) {
	l.mu.Lock()
	if !d.waitsInProgress() {
		// Step 4: no wait began before this entry and is still running.
		l.base += uint64(len(l.entries))
		clear(l.entries) // let the errors go
		l.entries = l.entries[:0]
	}
	l.entries = append(l.entries, handBack{s, kind, seq, work, err})
	l.addToReport(d, s, work, err)
	l.n.Add(1) // RMW: before the caller's completion store; pairs with the load in handedBack
	l.mu.Unlock()
}

// addToReport merges a hand-back into Close's report.
func (l *handLog) addToReport(d *Domain, s *slot, work ctseq.Work, err error) {
	gone := errors.Is(err, ErrOwnerGone)
	for b := range ctseq.WorkBits {
		if !work.Has(ctseq.Bit(b)) {
			continue
		}
		w := Work{d: d, info: d.works[b]}
		known := false
		for _, p := range l.pending {
			if p.CPU == s.cpu && p.Work == w && errors.Is(p.Err, ErrOwnerGone) == gone {
				known = true
				break
			}
		}
		if !known {
			l.pending = append(l.pending, Pending{CPU: s.cpu, Work: w, Err: err})
		}
	}
}

// handedBack is step 3: why the delivery of bit, whose completion t the
// caller has seen, was handed back instead of run, or nil if it ran.
func (l *handLog) handedBack(s *slot, t ticket, bit ctseq.Work) error {
	if l.n.Load() == t.mark { // load: pairs with the increment in add, before the completion the caller saw
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	from := 0
	if t.mark > l.base {
		from = int(t.mark - l.base)
	}
	for _, h := range l.entries[min(from, len(l.entries)):] {
		if h.s == s && h.kind == t.kind && h.seq == t.seq && h.work&bit != 0 {
			return h.err
		}
	}
	return nil
}

// report lists the hand-backs as Close reports them.
func (l *handLog) report() []Pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return nil
	}
	return append([]Pending(nil), l.pending...)
}

// waitsInProgress reports whether any slot counts a waiter (step 4).
func (d *Domain) waitsInProgress() bool {
	for i := range d.slots {
		s := &d.slots[i]
		// loads: pair with the waiters' adds before their marks (step 4).
		if s.waiters.Load() != 0 || s.ipiWaiters.Load() != 0 {
			return true
		}
	}
	return false
}
