package ctdefer

import (
	"context"
	"fmt"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/tracex"
)

// Delivering work to a CPU: exactly once, deferred (the deferral CAS on the
// word), run on behalf of a parked CPU, or by IPI (the mailbox), never two of
// these. An IPI follows only a clean refusal of the deferral CAS. The
// protocol and its invariants (exactly-once delivery, completion follows the
// run, no IPI storm): docs/design/delivery.md.

// ticket says how a delivery is completed, for DeferWait.
type ticket struct {
	kind uint8  // ticketDone, ticketDeferred, ticketIPI
	seq  uint64 // ticketDeferred: the kernel entry that runs it; ticketIPI: the mailbox generation
	mark uint64 // the hand-backs made before the delivery began (the waiter's mark: delivery.md, run or handed back, never both)
}

const (
	ticketDone = iota
	ticketDeferred
	ticketIPI
)

func (t ticket) how() Delivery {
	switch t.kind {
	case ticketDeferred:
		return Deferred
	case ticketIPI:
		return IPI
	}
	return OnBehalf
}

// Delivery says how Defer delivered work.
type Delivery uint8

// The ways a delivery can go.
const (
	// Deferred: the CPU was in user mode; the work runs at its next
	// kernel entry and the CPU was not disturbed.
	Deferred Delivery = iota + 1
	// IPI: the CPU was in the kernel or idle; the work was posted to its
	// mailbox and runs at its next poll point (a parked CPU is woken).
	IPI
	// OnBehalf: the CPU was parked and the work is RemoteSafe; the caller
	// ran it before Defer returned.
	OnBehalf
)

var deliveryNames = [...]string{"none", "deferred", "ipi", "on-behalf"}

// String returns "deferred", "ipi" or "on-behalf".
func (k Delivery) String() string {
	if int(k) < len(deliveryNames) {
		return deliveryNames[k]
	}
	return fmt.Sprintf("Delivery(%d)", uint8(k))
}

// Defer delivers w to cpu and returns without waiting for it to run, saying
// how it delivered it. The work runs on cpu exactly once for this delivery,
// after Defer began: deferred to the CPU's next kernel entry if it is in user
// mode, else by IPI. Deliveries of the same work to the same CPU pending at
// the same time are merged into one execution.
//
// To a CPU that no worker holds, Defer posts the work to the CPU's mailbox
// and returns (IPI, nil): it runs when a worker claims the CPU, or Close
// hands it back. (DeferAll, a broadcast, delivers only to claimed CPUs; the
// synchronous forms return ErrNotClaimed, see DeferWait.)
//
// Defer cannot tell that a CPU's owner has exited without Release (that
// costs a system call): work deferred to such a CPU is handed back when the
// runtime notices (see ErrOwnerGone).
//
// Errors: ErrClosed, and an *ArgError (ErrInvalid) for a CPU that is not one of the Domain's or a Work that this Domain did not register. Defer does not allocate
// when it succeeds; its errors do.
func (d *Domain) Defer(cpu int, w Work) (Delivery, error) {
	// Fast path, the deferral CAS only, kept small: a valid delivery to a tracked
	// CPU in user mode is a few loads and one CAS.
	if i := d.cpus.Of(cpu); w.d == d && i >= 0 && !d.closed.Load() { // load: Close's CAS
		s := &d.slots[i]
		if s.policy.Load() == policyTracked { // load: set at Claim
			if _, ok := s.word.SetWorkIfUser(ctseq.Work(1) << w.info.bit); ok {
				return Deferred, nil
			}
		}
	}
	return d.deferSlow(cpu, w)
}

// deferSlow is Defer for everything but a tracked CPU in user mode: the
// validation errors, FlushOnEntry, and the IPI path.
func (d *Domain) deferSlow(cpu int, w Work) (Delivery, error) {
	s, err := d.target("Defer", cpu, w)
	if err != nil {
		return 0, err
	}
	t, err := d.deliver("Defer", s, w)
	return t.how(), err
}

// DeferWait delivers w to cpu like Defer and waits until it has run.
//
// It honours ctx in every phase of the wait (spinning or sleeping): when ctx
// ends it returns, within about a millisecond, an error wrapping ctx.Err()
// (context.DeadlineExceeded or context.Canceled) that says what the CPU was
// doing; the work is still delivered and will run. Without a deadline in
// ctx, it gives up after Options.IPITimeout with an error wrapping
// ErrIPITimeout instead. The wait spins for Options.SpinWait, then sleeps.
//
// To a CPU that no worker holds, the work is posted (the next owner runs
// it) and DeferWait returns an error wrapping ErrNotClaimed: at once if ctx
// has no deadline, since no claim may ever come; at the deadline, wrapping
// ctx.Err() too, if none came by then. Send and IPI do the same.
//
// If the delivery is handed back instead of run, it returns an error
// wrapping the reason: ErrClosed (an IPI to a CPU no worker held when Close
// ran) or ErrOwnerGone (the CPU's owner exited without Release; a wait that
// lasts looks for that). Handed-back work never runs, so the caller may
// deliver it again.
func (d *Domain) DeferWait(ctx context.Context, cpu int, w Work) error {
	ctx, end := tracex.Task(ctx, "ctdefer.DeferWait")
	defer end()
	s, err := d.target("DeferWait", cpu, w)
	if err != nil {
		return err
	}
	s.waiters.Inc()       // RMW: before the delivery CAS; pairs with the owner's load in publishDone (completion follows the run), and with a hand-back's
	defer s.waiters.Dec() // RMW: the wait is over
	mark := d.hand.mark()
	t, err := d.deliver("DeferWait", s, w)
	if err != nil || t.kind == ticketDone {
		return err
	}
	t.mark = mark
	return d.wait(ctx, "DeferWait", s, w, t)
}

// Send delivers w to cpu like Defer; when the delivery is an IPI it waits,
// like DeferWait, until the work has run, and when it is deferred it returns
// at once. That is the synchronous form for work that only kernel-mode code
// depends on (the kernel-range TLB flush and sync_core that Valentin
// Schneider's series "context_tracking,x86: Defer some IPIs until a
// user->kernel transition" defers): a CPU in user
// mode runs deferred work at its next kernel entry, before any kernel-mode
// code, so waiting for that entry would add nothing but latency, and could
// last as long as the CPU's user-mode stretch.
func (d *Domain) Send(ctx context.Context, cpu int, w Work) (Delivery, error) {
	ctx, end := tracex.Task(ctx, "ctdefer.Send")
	defer end()
	s, err := d.target("Send", cpu, w)
	if err != nil {
		return 0, err
	}
	// The deferral CAS alone first: a deferred Send does not wait, so it is not
	// counted as a waiter (a refusal leaves no trace; deliver starts over).
	if s.policy.Load() == policyTracked { // load: set at Claim
		if _, ok := s.word.SetWorkIfUser(ctseq.Work(1) << w.info.bit); ok {
			return Deferred, nil
		}
	}
	s.ipiWaiters.Inc()       // RMW: before the delivery CAS; pairs with a hand-back's load (the log's bound)
	defer s.ipiWaiters.Dec() // RMW: the wait is over
	mark := d.hand.mark()
	t, err := d.deliver("Send", s, w)
	if err != nil || t.kind != ticketIPI {
		return t.how(), err
	}
	t.mark = mark
	return IPI, d.wait(ctx, "Send", s, w, t)
}

// IPI delivers w to cpu as an IPI whatever the CPU's state, even in user
// mode, and waits until it has run, honouring ctx like DeferWait. It is for
// work that cannot wait for the CPU's next kernel entry: the user-mode code
// itself depends on it (a flush of translations the hot loop is using). The
// CPU runs it at its next poll point; RemoteSafe work is run on behalf of a
// parked CPU.
func (d *Domain) IPI(ctx context.Context, cpu int, w Work) error {
	ctx, end := tracex.Task(ctx, "ctdefer.IPI")
	defer end()
	s, err := d.target("IPI", cpu, w)
	if err != nil {
		return err
	}
	s.ipiWaiters.Inc()       // RMW: before the post; pairs with a hand-back's load (the log's bound)
	defer s.ipiWaiters.Dec() // RMW: the wait is over
	mark := d.hand.mark()
	t, err := d.ipi("IPI", s, w, ctseq.Work(1)<<w.info.bit)
	if err != nil || t.kind == ticketDone {
		return err
	}
	t.mark = mark
	return d.wait(ctx, "IPI", s, w, t)
}

// unregistered is the error for a Work this Domain did not register (the
// zero Work, or one of another Domain).
func unregistered(method string, w Work) error {
	return &ArgError{Call: "ctdefer.Domain." + method, Arg: "w", Value: w.String(), Reason: "not registered in this Domain"}
}

// target validates a delivery; method names the caller in errors.
func (d *Domain) target(method string, cpu int, w Work) (*slot, error) {
	if w.d != d || w.info == nil {
		return nil, unregistered(method, w)
	}
	if d.closed.Load() { // load: Close's store; a delivery racing with it still lands (see Close)
		return nil, fmt.Errorf("ctdefer: %s(%d, %s): %w", method, cpu, w.String(), ErrClosed)
	}
	i := d.cpus.Of(cpu)
	if i < 0 {
		return nil, badCPU("ctdefer.Domain."+method, cpu, d.cpus.List(), "domain")
	}
	return &d.slots[i], nil
}

// deliver defers, or, if refused, runs on behalf or posts an IPI
// (exactly-once delivery).
func (d *Domain) deliver(method string, s *slot, w Work) (ticket, error) {
	bit := ctseq.Work(1) << w.info.bit
	set := bit
	switch s.policy.Load() { // load: set at Claim, read-mostly line
	case policyTracked:
	case policyFlushOnEntry:
		// The deferral CAS, FlushOnEntry: the next entry runs everything, so no
		// bit is needed; the CAS without bits still publishes what the
		// sender wrote before (a load would not).
		set = 0
	default:
		return d.ipi(method, s, w, bit)
	}
	at, ok := s.word.SetWorkIfUser(set)
	if !ok && at.State() == ctseq.Kernel && s.awaitWindow() {
		// The owner was in an interrupt window (Poll from user mode),
		// which has closed: try the deferral CAS again, once (no IPI storm).
		at, ok = s.word.SetWorkIfUser(set)
	}
	if ok {
		// Deferred. The fast path ends here.
		return ticket{kind: ticketDeferred, seq: servedBy(at)}, nil
	}
	return d.ipi(method, s, w, bit)
}

// windowSpins bounds a sender's wait for an interrupt window to close: a
// thousand loads of lines the owner writes when it closes, a few
// microseconds. A window whose handlers take longer gets its IPI.
const windowSpins = 1024

// awaitWindow is called by a sender whose deferral CAS found the word in
// Kernel.
// If the owner is in an interrupt window (s.irq), it waits, boundedly, for
// the window to close, and reports whether it did; otherwise it reports
// false at once (a real kernel stretch: post the IPI).
//
// Why: every IPI found at a Poll in user mode opens a window, and a sender
// that delivers back-to-back would meet each window and post the IPI that
// opens the next one, turning deferral into an interrupt storm. Waiting for
// the window to close costs the sender at most a few microseconds and keeps
// the items on the deferred path. Exactly-once is not at stake: the retry
// is one more deferral CAS (a CAS that succeeds only in a User word), and a
// refusal still ends in run-on-behalf or an IPI (exactly-once delivery).
func (s *slot) awaitWindow() bool {
	if s.irq.Load() == 0 { // load: pairs with the owner's store before its entry
		// No window now. Kernel: a real kernel stretch (a window is
		// announced before its entry and closed after its exit), so post
		// the IPI; otherwise the window the refusal met has closed since:
		// try the deferral CAS again. load: pairs with the owner's transitions.
		return s.word.Snapshot().State() != ctseq.Kernel
	}
	closed := func() bool {
		// loads: the owner's stores at the window's end, and its exit.
		return s.irq.Load() == 0 || s.word.Snapshot().State() != ctseq.Kernel
	}
	// An explored sender waits as one step; with time explored, it may
	// give up at any step, as a real one does after its spins.
	if handled, expired := atomicx.AwaitTimed(closed); handled {
		return !expired
	}
	for range windowSpins {
		if closed() {
			return true
		}
	}
	return false
}

// ipi is the slow path: run on behalf of a parked CPU, or post to the
// mailbox and wake the target.
func (d *Domain) ipi(method string, s *slot, w Work, bit ctseq.Work) (ticket, error) {
	if w.info.remoteSafe && s.tryBorrow() {
		d.runOnBehalf(s, w)
		return ticket{kind: ticketDone}, nil
	}
	// Record the post time before posting, so that the owner's claim,
	// which clears it after taking the bits, cannot see a post without it.
	s.ipiPostedAt.CompareAndSwap(0, int64(time.Since(d.epoch))) // CAS: first unhandled post wins
	gen, ok := s.mbox.post(bit)
	if !ok {
		return ticket{}, fmt.Errorf("ctdefer: %s(%d, %s): %w", method, s.cpu, w.String(), ErrClosed)
	}
	s.sstats.ipis.Inc()            // counter: orders nothing, read by Stats
	s.swork.ipis[w.info.bit].Inc() // counter, per work: ditto
	d.traceIPI(s.cpu, w)
	s.wakeIfParked()
	return ticket{kind: ticketIPI, seq: gen}, nil
}

// runOnBehalf runs a RemoteSafe handler for a borrowed, parked CPU.
//
// The handler is that CPU's kernel-mode code, run on another thread, so the
// CPU's word must say so: a grace period or an expedited barrier that saw the
// CPU Idle during the handler would skip it (the kthread case of the LKML
// thread "x86: use exit_lazy_tlb rather than
// membarrier_mm_sync_core_before_usermode", July 2020) while
// the handler still holds references. The borrower holds the CPU
// exclusively (the owner cannot leave its park while it is borrowed:
// borrows exclude the owner, delivery.md), so it plays the owner for the word: IdleExit before the handler,
// IdleEnter after, two transitions that observers see as a kernel stretch.
// Senders meanwhile see Kernel and post IPIs, which the owner handles when
// it wakes.
func (d *Domain) runOnBehalf(s *slot, w Work) {
	defer s.giveBack()
	// Idle refuses work, so the exit claims nothing; a non-empty claim would
	// be a broken invariant, not work to drop.
	if stray := s.word.IdleExit(); stray != 0 {
		panic(fmt.Sprintf("ctdefer: run on behalf of CPU %d: Idle word held work %v", s.cpu, stray))
	}
	defer s.word.IdleEnter()
	w.info.handler(s.cpu)
	s.sstats.onBehalf.Inc()            // counter: orders nothing, read by Stats
	s.swork.onBehalf[w.info.bit].Inc() // counter, per work: ditto
}

// wait blocks until t is completed (percpu.Waiter): it spins for
// Options.SpinWait, then sleeps with a growing interval, watching ctx in both
// phases. The spin does not yield: on a goroutine locked to a pinned thread,
// runtime.Gosched hands the thread's P to other threads, which may then run
// on the very CPUs the caller is trying not to disturb. Without a deadline
// in ctx it gives up after Options.IPITimeout. Every 16 sleeps of the full
// millisecond, and once more before it gives up, it looks for an owner that
// exited (with a garbage collection every 256 if only that can tell:
// exited owners are reclaimed, owner.md): that is why nothing ran. A wait still waiting after
// Options.IPITimeout (one whose ctx has a later deadline) is logged once
// as stalled, and a failed one is logged too (Options.Logger).
func (d *Domain) wait(ctx context.Context, method string, s *slot, w Work, t ticket) error {
	return d.waitFor(ctx, method, s, w, t, d.opts.IPITimeout)
}

// waitFor is wait with the timeout that applies when ctx has no deadline
// (DeferWaitAll gives each wait what is left of one budget). A timeout of
// zero or less gives up after one look.
func (d *Domain) waitFor(ctx context.Context, method string, s *slot, w Work, t ticket, timeout time.Duration) error {
	done := func() bool {
		if t.kind == ticketDeferred {
			// load: pairs with the owner's store after its drain, and with
			// its store of doneNone (retireDone).
			return doneReached(s.doneSeq.Load(), t.seq)
		}
		return s.ipiDone.Load() >= t.seq // load: pairs with the store in handleIPIs
	}
	if done() {
		return d.completed(method, s, w, t)
	}
	_, hasDeadline := ctx.Deadline()
	// load: a CPU no worker holds at the call (pairs with Claim's CAS): its
	// mailbox keeps the work for the next owner, which may never come; with
	// no deadline to bound the wait, say so at once.
	if !hasDeadline && !s.claimed.Load() {
		if done() {
			// load (done): the owner ran it, then released, between the
			// first look and the claimed flag's (its completion store
			// comes before Release's clear of the flag).
			return d.completed(method, s, w, t)
		}
		return fmt.Errorf("ctdefer: %s(%d, %s): posted, not run: CPU %d has no worker (it runs when one claims the CPU, or Close hands it back): %w",
			method, s.cpu, w.String(), s.cpu, ErrNotClaimed)
	}
	if tracex.Enabled() {
		tracex.Logf(ctx, "ctdefer", "%s: cpu=%d work=%s delivery=%v", method, s.cpu, w.String(), t.how())
		defer tracex.Region(ctx, "ctdefer."+method+": wait")()
	}
	start := time.Now()
	before := s.word.Snapshot()
	stalled := !hasDeadline || d.opts.Logger == nil // nothing to log: the timeout ends the wait first
	wt := percpu.Waiter{
		Spin: d.opts.SpinWait,
		LongSleep: func(n int) bool {
			if !stalled && time.Since(start) >= d.opts.IPITimeout {
				stalled = true
				d.logWait(method, s, w, t.how().String(), before, time.Since(start), nil)
			}
			return n%16 == 0 && d.reapIfDead(s, n%256 == 0)
		},
	}
	if !hasDeadline {
		wt.Timeout = max(timeout, time.Nanosecond)
	}
	err := wt.Until(ctx, done)
	if err == nil || d.reapIfDead(s, true) && done() {
		return d.completed(method, s, w, t)
	}
	if err == percpu.ErrTimeout {
		err = ErrIPITimeout
	}
	return d.waitError(method, s, w, t, before, time.Since(start), err)
}

// completed is the result of a wait whose delivery completed: nil if it
// ran, the reason if it was handed back instead.
func (d *Domain) completed(method string, s *slot, w Work, t ticket) error {
	if err := d.hand.handedBack(s, t, ctseq.Work(1)<<w.info.bit); err != nil {
		return fmt.Errorf("ctdefer: %s(%d, %s): handed back, never run: %w", method, s.cpu, w.String(), err)
	}
	return nil
}

// waitError describes a CPU that did not run delivered work in time.
func (d *Domain) waitError(method string, s *slot, w Work, t ticket, before ctseq.Snapshot, waited time.Duration, err error) error {
	now := s.word.Snapshot()
	how := "deferred to its next kernel entry"
	if t.kind == ticketIPI {
		how = "sent by IPI"
	}
	var doing string
	switch {
	case !s.claimed.Load(): // load: diagnostics
		doing = "no worker has claimed it"
	case now.Seq() == before.Seq():
		doing = fmt.Sprintf("stuck in %v: no transition during the wait", now.State())
		if now.State() == ctseq.Kernel && t.kind == ticketIPI {
			doing += " and no Poll"
		}
	default:
		doing = fmt.Sprintf("now in %v, %d transitions during the wait",
			now.State(), (now.Seq()-before.Seq())&ctseq.SeqMask)
	}
	if doing == "no worker has claimed it" {
		err = fmt.Errorf("%w; %w", err, ErrNotClaimed)
	}
	werr := fmt.Errorf("ctdefer: %s(%d, %s): %s, not run after %v: CPU %d %s (thread %d): %w",
		method, s.cpu, w.String(), how, waited.Round(time.Microsecond), s.cpu, doing, s.ownerTid.Load(), err)
	d.logWait(method, s, w, t.how().String(), before, waited, werr)
	return werr
}

// servedBy is the sequence of the owner transition that runs work accepted
// in the User word at: its next one, at.Seq()+1 modulo the sequence's width.
func servedBy(at ctseq.Snapshot) uint64 { return (at.Seq() + 1) & ctseq.SeqMask }
