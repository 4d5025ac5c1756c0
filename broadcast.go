package ctdefer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctdefer/ctdefer/internal/tracex"
)

// Outcome is what happened to one work on one CPU: what a broadcast
// (DeferAll, DeferWaitAll) did there, or a delivery that Close handed back
// (UndeliveredError).
type Outcome struct {
	// CPU is the CPU's number.
	CPU int
	// Work is the work delivered.
	Work Work
	// Delivery says how the work was delivered (zero if it was not).
	Delivery Delivery
	// Err is nil if the delivery succeeded (DeferAll) or the work ran
	// (DeferWaitAll); otherwise it is the error Defer or DeferWait would
	// have returned for this CPU, or why it was handed back
	// (UndeliveredError).
	Err error
	// Value is the value handed back, for a Queue's entry in
	// UndeliveredError (one Outcome per value); nil otherwise.
	Value any
}

// failedBroadcast is the error of a broadcast that failed on some CPUs: it
// names them and each one's error, and errors.Is and errors.As see through
// it to each CPU's error (ErrClosed, ErrIPITimeout, ErrOwnerGone,
// context.DeadlineExceeded, ...). The Outcomes carry the same per CPU.
type failedBroadcast struct {
	method string    // "DeferAll" or "DeferWaitAll"
	work   Work      // the work broadcast
	failed []Outcome // the outcomes whose Err is not nil, in the Domain's CPU order
}

func (e *failedBroadcast) Error() string {
	var b strings.Builder
	cpus := make([]int, len(e.failed))
	for i, o := range e.failed {
		cpus[i] = o.CPU
	}
	fmt.Fprintf(&b, "ctdefer: %s(%s): failed on CPUs %v", e.method, e.work.String(), cpus)
	for _, o := range e.failed {
		fmt.Fprintf(&b, "; CPU %d: %v", o.CPU, o.Err)
	}
	return b.String()
}

func (e *failedBroadcast) Unwrap() []error {
	errs := make([]error, len(e.failed))
	for i, o := range e.failed {
		errs[i] = o.Err
	}
	return errs
}

// DeferAll delivers w, like Defer, to every CPU of the Domain that is
// claimed when the call looks at it, and returns one Outcome per such CPU,
// in the Domain's CPU order. It is the configuration push to every worker.
//
// CPUs that no worker holds are skipped and absent from the result (unlike
// Defer to one CPU, which posts to its mailbox for the next owner): nobody
// would run the work there, and the next owner of such a CPU has not seen
// the state the work brings up to date, so it needs none. A CPU released
// while the call runs may still get the work, held in its mailbox for its
// next Claim or for Close, like any delivery to an unclaimed CPU.
//
// The error is nil if every delivery succeeded; otherwise it is an
// error naming the CPUs that failed and wrapping each one's error (ErrClosed: the Domain closed
// during the call). An unregistered w and a closed Domain fail the call as
// a whole, with ErrClosed or an *ArgError (ErrInvalid) for a Work of another Domain, and a nil result. With no
// CPU claimed, the result is empty and the error nil.
func (d *Domain) DeferAll(w Work) ([]Outcome, error) {
	if err := d.broadcastTarget("DeferAll", w); err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(d.slots))
	for i := range d.slots {
		s := &d.slots[i]
		if !s.claimed.Load() { // load: pairs with the CAS in Claim and the store in Release
			continue
		}
		t, err := d.deliver("DeferAll", s, w)
		outs = append(outs, Outcome{CPU: s.cpu, Work: w, Delivery: t.how(), Err: err})
		if err != nil {
			outs[len(outs)-1].Delivery = 0
		}
	}
	return outs, broadcastError("DeferAll", w, outs)
}

// DeferWaitAll delivers w to every claimed CPU like DeferAll, then waits
// until it has run on each, and returns one Outcome per CPU as DeferAll
// does. It sends to every CPU first and only then waits, so the CPUs run
// the work in parallel and the call lasts as long as the slowest of them,
// not their sum.
//
// The waits honour ctx like DeferWait's: if ctx ends, every CPU whose work
// has not run yet fails with an error wrapping ctx.Err() that says what the
// CPU was doing (its work is still delivered and will run). Without a
// deadline in ctx, Options.IPITimeout bounds the whole call, not each CPU:
// a CPU whose work has not run by then fails with ErrIPITimeout. A delivery
// handed back instead of run (Close, an exited owner) fails with the
// reason, ErrClosed or ErrOwnerGone.
//
// The error is nil if the work ran on every CPU of the result; otherwise it
// names the CPUs where it did not and wraps each one's error (each
// Outcome's Err says the same). As for DeferAll, unclaimed CPUs are skipped, and an unregistered w
// or a closed Domain fails the whole call.
func (d *Domain) DeferWaitAll(ctx context.Context, w Work) ([]Outcome, error) {
	ctx, end := tracex.Task(ctx, "ctdefer.DeferWaitAll")
	defer end()
	if err := d.broadcastTarget("DeferWaitAll", w); err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(d.slots))
	type pending struct {
		s *slot
		t ticket
	}
	var waits []pending // parallel to outs
	for i := range d.slots {
		s := &d.slots[i]
		if !s.claimed.Load() { // load: pairs with the CAS in Claim and the store in Release
			continue
		}
		s.waiters.Inc()       // RMW: before the delivery CAS; pairs with the owner's load in publishDone (completion follows the run), and with a hand-back's
		defer s.waiters.Dec() // RMW: the wait is over
		mark := d.hand.mark()
		t, err := d.deliver("DeferWaitAll", s, w)
		t.mark = mark
		o := Outcome{CPU: s.cpu, Work: w, Delivery: t.how(), Err: err}
		if err != nil {
			o.Delivery = 0
		}
		outs = append(outs, o)
		waits = append(waits, pending{s, t})
	}
	start := time.Now()
	for i, p := range waits {
		if outs[i].Err != nil || p.t.kind == ticketDone {
			continue
		}
		outs[i].Err = d.waitFor(ctx, "DeferWaitAll", p.s, w, p.t, d.opts.IPITimeout-time.Since(start))
	}
	return outs, broadcastError("DeferWaitAll", w, outs)
}

// broadcastTarget validates a broadcast: the work, and the Domain open.
func (d *Domain) broadcastTarget(method string, w Work) error {
	if w.d != d || w.info == nil {
		return unregistered(method, w)
	}
	if d.closed.Load() { // load: Close's store
		return fmt.Errorf("ctdefer: %s(%s): %w", method, w.String(), ErrClosed)
	}
	return nil
}

// broadcastError collects the failed outcomes, or returns nil.
func broadcastError(method string, w Work, outs []Outcome) error {
	var failed []Outcome
	for _, o := range outs {
		if o.Err != nil {
			failed = append(failed, o)
		}
	}
	if failed == nil {
		return nil
	}
	return &failedBroadcast{method: method, work: w, failed: failed}
}
