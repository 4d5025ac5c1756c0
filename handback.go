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
//  1. A waiter counts itself on its slot, then takes its mark (n).
//  2. A hand-back appends an entry numbered n, then increments n, before
//     the completion store that releases the entry's waiters.
//  3. A waiter that has seen its completion loads n: equal to its mark, its
//     delivery ran; else it looks for its entry from its mark on.
//  4. An append that finds no slot counting a waiter first empties the log.
//
// Hand-backs are rare, so the mutex is taken only by them and the waits they
// concern. Why no waiter loses its entry, and why the log stays bounded (run
// or handed back, never both): docs/design/delivery.md.
type handLog struct {
	_ atomicx.Align64
	// n is the number of hand-backs so far: the next entry's number.
	// Incremented under mu after the append; loaded without mu by waiters.
	n  atomicx.Uint64
	mu atomicx.Mutex // guards the fields below
	// entries are numbered base, base+1, ...: the log for waiters.
	entries []handBack
	base    uint64
	// report is Close's list: one Outcome per CPU, work and reason (the
	// first error of each), in the order of their first hand-back.
	pending []Outcome
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
		if !work.Has(b) || d.works[b].queue != nil {
			continue // a queue's values are listed instead (addValues)
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
			l.pending = append(l.pending, Outcome{CPU: s.cpu, Work: w, Err: err})
		}
	}
}

// addValues adds values of queue w handed back from s to Close's report,
// one Outcome each, in order.
func (l *handLog) addValues(s *slot, w Work, vals []any, err error) {
	l.mu.Lock()
	for _, v := range vals {
		l.pending = append(l.pending, Outcome{CPU: s.cpu, Work: w, Err: err, Value: v})
	}
	l.mu.Unlock()
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
func (l *handLog) report() []Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return nil
	}
	return append([]Outcome(nil), l.pending...)
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
