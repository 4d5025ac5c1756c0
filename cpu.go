package ctdefer

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"time"
	"weak"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// CPU is the owner's handle on one claimed CPU. Claim returns it to the
// goroutine that pinned itself; its methods may be called only from that
// goroutine (with Options.Debug, a call from another thread panics with a
// *MisuseError, Reason "wrong thread"). Remote code uses the Domain's
// Defer and DeferWait, which never need a *CPU.
//
// A handle is dead once Release has begun: every method that acts on the
// CPU (UserEnter, KernelEnter, Poll, Idle, Release,
// NeedResched, NeedReschedBeforeUser, Tick, ClearResched) then panics,
// naming the method and "after Release", in every build, and leaves the
// CPU's word alone; the next Claim of the CPU finds it in kernel mode. CPU,
// Domain and Closing describe the handle and stay valid.
//
// The owner's life:
//
//	c, err := d.Claim(cpu)       // kernel mode, pinned
//	for !c.Closing() {
//		c.UserEnter()            // user mode: deferrable work is queued
//		hotLoop(c)               // calls c.Poll() now and then
//		c.KernelEnter()          // deferred work and IPIs run here
//		housekeeping(c)          // may call c.Poll(), c.Idle(ctx)
//	}
//	c.Release()
type CPU struct {
	_        percpu.NoCopy
	d        *Domain
	s        *slot
	mbox     *atomicx.Uint64 // &s.mbox.v: Poll's one load, without the slot's indirection
	cpu      int
	tid      int
	flushAll ctseq.Work // non-zero iff claimed with FlushOnEntry
	debug    bool       // Options.Debug
	trace    bool       // Options.Trace: the owner's paths log to runtime/trace
	pinned   bool
	restore  func() error
	// checks is non-zero iff an owner method must look before it acts:
	// checkDebug (Options.Debug) or checkReleased (Release has begun). One
	// plain load of it is the whole cost of both checks on the fast paths.
	// Owner-only: written at Claim and by Release, on the owner's thread.
	checks uint64
}

// The bits of CPU.checks.
const (
	checkDebug    uint64 = 1 << iota // Options.Debug: the owner-thread checks
	checkReleased                    // Release has begun: the handle is dead
)

// released reports whether Release has begun on c. Owner-only.
func (c *CPU) released() bool { return c.checks&checkReleased != 0 }

// check is the slow side of the owner methods' one load of c.checks: a dead
// handle panics, and with Options.Debug the calling thread must be the
// owner's.
func (c *CPU) check(method string) {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{method, c.cpu})
	}
	if c.checks&checkDebug != 0 {
		c.checkOwner(method)
	}
}

// usedAfterRelease is the value a method of a dead handle panics with. The
// small accessors raise it themselves, without a call, so that they stay
// within the inliner's budget.
type usedAfterRelease struct {
	method string
	cpu    int
}

func (e usedAfterRelease) Error() string {
	return fmt.Sprintf("ctdefer: %s: CPU %d used after Release (the handle is dead; Claim the CPU again for a new one)", e.method, e.cpu)
}

// Claim pins the calling goroutine to cpu and returns the owner handle, in
// kernel mode. It locks the goroutine to its OS thread and sets the thread's
// affinity to exactly cpu (unless Options.Unpinned). IPIs posted to cpu while
// no worker had it are run before Claim returns.
//
// The owner must call Release before its goroutine ends (defer c.Release()).
// If it does not, its thread ends with it, and the runtime takes the CPU
// back when it notices (see ErrOwnerGone): a Claim of that CPU then
// succeeds.
//
// Errors: ErrCPUBusy (claimed by a live owner, or the calling goroutine
// already owns a CPU), an *ArgError (errors.Is: ErrInvalid) for a CPU not
// in the domain or a nil option, host.ErrNotAllowed
// (the kernel refused the affinity: cpuset, hotplug), an error wrapping the
// errno for any other affinity failure,
// ErrNotSupported (pinning on a platform without it), ErrClosed, and
// host.ErrNoHeadroom with Options.RequireHeadroom.
//
// GOMAXPROCS headroom: each running worker holds a P, so the CPUs claimed in
// the process, across Domains, should stay below runtime.GOMAXPROCS(0). A
// claim that reaches it is counted in Stats.NoHeadroom and logged
// (Options.Logger), or refused with Options.RequireHeadroom.
func (d *Domain) Claim(cpu int, opts ...ClaimOption) (*CPU, error) {
	s, err := d.slotOf("Claim", cpu)
	if err != nil {
		return nil, err
	}
	var cfg claimConfig
	for i, o := range opts {
		if o == nil {
			return nil, &ArgError{Call: "ctdefer.Domain.Claim", Arg: fmt.Sprintf("opts[%d]", i), Reason: fmt.Sprintf("nil option (CPU %d)", cpu)}
		}
		o(&cfg)
	}
	// Lock first: from here the thread identifies the goroutine.
	runtime.LockOSThread()
	tid := gettid()
	var start uint64
	if tid > 0 {
		start, _ = sysx.ThreadStart(tid)
	}
	if r, ok := lookupOwner(tid); ok {
		if start == 0 || r.start == 0 || r.start == start {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("ctdefer: Claim(%d): the calling goroutine (thread %d) already owns CPU %d; a second claim would re-pin its thread: %w",
				cpu, tid, r.s.cpu, ErrCPUBusy)
		}
		// The tid was recycled: its previous owner exited without Release.
		// Forget the stale entry; that owner's Domain takes its CPU back on
		// its own slow paths (exited owners are reclaimed, owner.md).
		unregisterOwner(tid, r.s)
	}
	if s.claimed.Load() { // load: is the CPU held by an owner that is gone?
		d.reapIfDead(s, true)
	}
	d.mu.Lock()
	if d.closed.Load() { // load under mu: Close stores closed under mu too
		d.mu.Unlock()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("ctdefer: Claim(%d): %w", cpu, ErrClosed)
	}
	if !s.claimed.CompareAndSwap(false, true) { // CAS: one owner per CPU; pairs with the store in Release
		d.mu.Unlock()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("ctdefer: Claim(%d): claimed by thread %d: %w", cpu, s.ownerTid.Load(), ErrCPUBusy) // load: diagnostics only
	}
	workersNow, ok, short := reserveWorker(d.opts.RequireHeadroom)
	if !ok {
		s.claimed.Store(false) // store: undo the claim; pairs with the CAS above
		d.mu.Unlock()
		runtime.UnlockOSThread()
		d.logNoHeadroom(cpu, workersNow, runtime.GOMAXPROCS(0), true)
		return nil, fmt.Errorf("ctdefer: Claim(%d): %w", cpu, short)
	}
	d.seal()
	d.claimers.Inc() // RMW under mu: Close waits for zero (see Close)
	all := d.all
	c := &CPU{d: d, s: s, mbox: &s.mbox.v, cpu: cpu, tid: tid, debug: d.opts.Debug, trace: d.opts.Trace, pinned: !d.opts.Unpinned}
	if c.debug {
		c.checks = checkDebug
	}
	// The handle, weakly: it reads nil once the handle is collected before
	// Release, and the claim is lost (the weak-handle test: owner.md, Exited owners).
	h := weak.Make(c)
	s.handle.Store(&h)           // store under mu: read by the dead-owner check
	s.ownerTid.Store(int64(tid)) // store under mu: read by the dead-owner check and diagnostics
	s.ownerStart.Store(start)    // store under mu: ditto
	registerOwner(tid, ownerRec{d: d, s: s, start: start})
	d.mu.Unlock()
	if short != nil {
		s.swork.noHeadroom.Inc() // counter: orders nothing, read by Stats
		d.logNoHeadroom(cpu, workersNow, runtime.GOMAXPROCS(0), false)
	}

	if c.pinned {
		if c.restore, err = host.PinThread(cpu); err != nil {
			d.mu.Lock()
			unregisterOwner(tid, s)
			s.ownerTid.Store(0)    // store under mu: undo the claim (diagnostics)
			s.claimed.Store(false) // store: undo the claim; pairs with the CAS above
			d.claimers.Dec()       // RMW: pairs with Close's load
			d.mu.Unlock()
			releaseWorker()
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("ctdefer: Claim(%d): %w", cpu, err)
		}
	}
	if cfg.policy == policyFlushOnEntry {
		c.flushAll = all
	}
	s.policy.Store(cfg.policy) // store: read by senders in deliver
	c.handleIPIs(false)
	return c, nil
}

// CPU returns the CPU number.
func (c *CPU) CPU() int { return c.cpu }

// Closing reports whether the Domain is closing: the owner should finish its
// loop and Release.
func (c *CPU) Closing() bool { return c.d.closed.Load() } // load: pairs with Close's store

// state returns the CPU's current context-tracking state (the tests'
// CPU.State, export_test.go).
func (c *CPU) state() ctseq.State {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.State", c.cpu})
	}
	return c.s.word.Snapshot().State()
}

// UserEnter returns the CPU to user mode. IPIs already posted are handled
// first (the kernel's exit-to-user work loop); from the transition on, work
// sent to this CPU is deferred to its next KernelEnter instead of
// interrupting it.
func (c *CPU) UserEnter() {
	if c.checks != 0 {
		c.check("CPU.UserEnter")
	}
	if c.s.mbox.pending() {
		c.handleIPIs(false)
	}
	c.retireDone()
	c.s.word.UserEnter()
}

// retireDone forgets the last published completion (doneSeq) when nobody
// waits for one, before the owner leaves the kernel. Without it a waiter
// that arrives after a long stretch without waiters would compare its
// ticket with a sequence published 2^44 transitions ago, which SeqReached
// may order the wrong way round (a return before the work ran).
//
// It keeps no stale completion (delivery.md): a waiter registers before its
// delivery CAS, which needs a User word, so a retire that misses it
// precedes its whole delivery. In the steady state (no waiters) this is one
// load.
func (c *CPU) retireDone() {
	s := c.s
	// load (doneSeq): the owner's own last store (only the owner and a
	// reclaimer playing it write doneSeq), so it orders nothing; it keeps
	// the steady state to one load. load (waiters): pairs with the
	// waiter's add before its delivery CAS (no stale completion, delivery.md).
	if s.doneSeq.Load() != doneNone && s.waiters.Load() == 0 {
		s.doneSeq.Store(doneNone) // store: before the exit's add; pairs with the loads in DeferWait's wait
	}
}

// KernelEnter moves the CPU from user mode into the kernel: it runs the work
// deferred while the CPU was in user mode (each pending work once, in
// registration order), then any pending IPIs. Without pending work it costs
// one atomic add and one load.
func (c *CPU) KernelEnter() {
	if c.checks != 0 {
		c.check("CPU.KernelEnter")
		c.checkPlacement("CPU.KernelEnter")
	}
	work := c.s.word.KernelEnter()
	if c.flushAll != 0 {
		c.flush()
	} else if work != 0 {
		c.drain(work)
	}
	if c.s.mbox.pending() {
		c.handleIPIs(false)
	}
}

// Poll is the CPU's interrupt check, for long stretches in either mode: in
// the kernel it handles pending IPIs; in user mode a pending IPI interrupts
// the CPU (it enters the kernel, runs deferred work and the IPIs, and
// returns to user mode: counted in Stats.IPIsInUser). It reports whether it
// handled an IPI. Without a pending IPI it costs one load of a line that only
// senders of IPIs write, and one plain load of the handle (see CPU.checks).
func (c *CPU) Poll() bool {
	// load: the mailbox, as mailbox.pending; pairs with the CAS in post.
	// One test for both: no IPI pending (the mailbox's work field) and
	// nothing to check (checks); either non-zero sends the call to the slow
	// path. The whole of Poll stays within the inliner's budget (80): a hot
	// loop pays no call for it.
	if c.mbox.Load()&mboxWorkMask|c.checks == 0 {
		return false // the common case, inlined into the owner's loop
	}
	return c.pollSlow()
}

// pollSlow is Poll with an IPI pending, on a released handle (the panic)
// or with Options.Debug: out of line, so that Poll inlines.
func (c *CPU) pollSlow() bool {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.Poll", c.cpu})
	}
	if !c.s.mbox.pending() {
		if c.debug {
			c.checkOwner("CPU.Poll")
		}
		return false
	}
	if c.debug {
		c.checkOwner("CPU.Poll")
	}
	// An interrupt window from user mode: tell senders, so that those who
	// find the word in Kernel during it wait for it to close instead of
	// posting IPIs that would open the next one (the storm of a sender
	// delivering back-to-back). Owner-only read of the state.
	window := c.s.word.Snapshot().State() == ctseq.User
	if window {
		c.s.irq.Store(1) // store: before the entry; pairs with the sender's load after its refused CAS
	}
	e := c.s.word.Enter() // an interrupt entry: nested if already in the kernel
	// Return to the interrupted state even if a handler panics, so that an
	// owner that recovers finds the CPU in the mode it left.
	defer c.exitWindow(e, window)
	if e.Outer() {
		if c.flushAll != 0 {
			c.flush()
		} else if w := e.Work(); w != 0 {
			c.drain(w)
		}
	}
	c.handleIPIs(e.Outer())
	return true
}

// quiesce declares a quiescent state in kernel mode for grace's
// Checkpoint (through corelink.View.Quiesce): the owner holds no reference
// that a grace period must wait for. One atomic add.
func (c *CPU) quiesce(method string) {
	if c.checks != 0 {
		c.check(method)
	}
	c.s.word.Quiesce()
}

// Idle parks the CPU until an IPI arrives, a full reschedule request is
// pending (Domain.Resched, see NeedResched), ctx ends, or the Domain closes,
// without spinning. While parked the CPU is in the Idle state: senders post
// IPIs and wake it, or run RemoteSafe work on its behalf without waking it.
// Idle must be called in kernel mode; it returns in kernel mode after handling
// the IPIs that woke it. It returns nil after a wake-up, ctx.Err() if ctx
// ended, ErrClosed if the Domain is closing.
func (c *CPU) Idle(ctx context.Context) error {
	if c.checks != 0 {
		c.check("CPU.Idle")
	}
	if c.s.mbox.pending() || c.s.resched.full() {
		c.handleIPIs(false)
		return nil
	}
	c.retireDone()
	c.s.word.IdleEnter()
	c.d.quiet.Notify() // after IdleEnter: a grace waiter that looked before it is woken (grace.md, no sleeping through a report)
	err := c.s.parkUntil(ctx, c.d.closed.Load)
	c.s.unpark()
	if w := c.s.word.IdleExit(); w != 0 {
		c.drain(w)
	}
	c.handleIPIs(false)
	return err
}

// Release gives the CPU up: it enters the kernel if needed, runs every
// pending deferred work (every registered work under FlushOnEntry) and IPI,
// restores the thread's previous affinity and unlocks it from the goroutine.
// Work sent afterwards is held in the CPU's mailbox for the next Claim (or
// handed back by Close).
//
// If a handler panics, Release still gives the CPU up (affinity restored,
// thread unlocked, CPU unclaimed; IPIs not yet run stay in the mailbox for
// the next Claim or Close) and then lets the panic (a *ctseq.HandlerPanic)
// continue. Release returns an error only if the affinity could not be
// restored (the CPU is released anyway). Calling Release twice panics, as
// does every other use of the handle after Release (see CPU).
func (c *CPU) Release() (err error) {
	if c.checks != 0 {
		c.check("CPU.Release")
	}
	c.checks |= checkReleased
	defer func() {
		if rerr := c.giveUp(); err == nil {
			err = rerr
		}
	}()
	if st := c.s.word.Snapshot().State(); st != ctseq.Kernel {
		if e := c.s.word.Enter(); e.Outer() {
			if c.flushAll != 0 {
				c.flush()
			} else if w := e.Work(); w != 0 {
				c.drain(w)
			}
		}
	}
	c.handleIPIs(false)
	return nil
}

// giveUp is the end of Release, run even if a handler panicked.
func (c *CPU) giveUp() error {
	c.s.policy.Store(policyTracked) // store: the next Claim sets its own; pairs with deliver's load
	var err error
	if c.restore != nil {
		err = c.restore()
	}
	d := c.d
	d.mu.Lock()
	unregisterOwner(c.tid, c.s)
	c.s.ownerTid.Store(0) // store under mu: the dead-owner check reads it
	// store: the CPU is free; its word stays in Kernel, so every later
	// delivery goes to the mailbox (pairs with the CAS in Claim).
	c.s.claimed.Store(false)
	d.claimers.Dec() // RMW: pairs with Close's load; after the store above
	d.mu.Unlock()
	d.quiet.Notify() // after the claim is cleared: as in Idle
	releaseWorker()
	runtime.UnlockOSThread()
	// A post that raced with the last handleIPIs waits in the mailbox for
	// the next Claim or for Close.
	return err
}

// exitWindow ends Poll's interrupt entry: back to the interrupted state, then
// the window is over for waiting senders.
func (c *CPU) exitWindow(e ctseq.Entry, window bool) {
	c.s.word.Exit(e)
	if window {
		c.s.irq.Store(0) // store: after the exit; pairs with the sender's wait
	}
}

// drain runs deferred work claimed by a kernel entry.
func (c *CPU) drain(work ctseq.Work) {
	c.runEntryWork(work)
	c.s.ostats.drains.Inc()        // counter: orders nothing, read by Stats
	c.s.owork.deferred.count(work) // counters, per work: order nothing, read by Stats
}

// flush runs every registered work (FlushOnEntry).
func (c *CPU) flush() {
	c.runEntryWork(c.flushAll)
	c.s.ostats.flushes.Inc()                                               // counter: orders nothing, read by Stats
	c.s.ostats.flushRuns.Add(uint64(bits.OnesCount16(uint16(c.flushAll)))) // counter: orders nothing, read by Stats
}

// runEntryWork runs the work of the current kernel entry and publishes its
// completion for DeferWait.
func (c *CPU) runEntryWork(work ctseq.Work) {
	if c.debug || c.trace {
		c.instrumentEntry(work)
	}
	// Deferred, so that it follows every handler however the drain ends: a
	// return, a handler's panic or its runtime.Goexit (Drain runs the other
	// handlers first in both cases).
	defer c.publishDone()
	c.s.table.Drain(work)
}

// instrumentEntry is runEntryWork's debug and trace bookkeeping, out of line.
func (c *CPU) instrumentEntry(work ctseq.Work) {
	if c.debug {
		c.s.danger.Store(uint32(work)) // store: enter the danger zone for these bits
	}
	if c.trace {
		c.traceLog("drain", work)
	}
}

// publishDone publishes the drain that just ended, deferred by
// runEntryWork so that it follows every handler and happens even if one
// panics or calls runtime.Goexit (Drain runs the others first), when
// someone waits for it.
//
// The load of waiters pairs with the waiter's add before its delivery CAS,
// which this entry's add read: it sees the waiter unless the waiter has
// given up (completion follows the run, delivery.md). With no waiter, an
// entry with work costs no store here.
func (c *CPU) publishDone() {
	if c.s.waiters.Load() != 0 { // load: pairs with the waiter's Inc before its delivery
		c.s.publishSeq()
	}
}

// publishSeq stores the sequence of the entry the owner is in as doneSeq.
func (s *slot) publishSeq() {
	// load: the sequence of the entry being drained (the owner is in it:
	// only the owner moves the sequence).
	seq := s.word.Snapshot().Seq()
	s.doneSeq.Store(seq) // store: pairs with the load in DeferWait's wait
}

// handleIPIs claims and runs the mailbox's work.
func (c *CPU) handleIPIs(inUser bool) {
	s := c.s
	work, gen := s.mbox.claim()
	if work == 0 {
		return
	}
	if posted := s.ipiPostedAt.Swap(0); posted != 0 { // swap: statistics only; pairs with ipi's CAS
		lat := int64(time.Since(c.d.epoch)) - posted
		// Owner-written, so a load then a store; both always run, so that
		// the atomic operations a thread performs never depend on the
		// clock (the explorer replays threads deterministically).
		s.ostats.maxIPILatency.Store(max(lat, s.ostats.maxIPILatency.Load())) // statistics only
		s.owork.latency.record(time.Duration(lat))                            // counter: not a scheduling point, so its bucket may depend on the clock
	}
	if c.trace {
		c.traceLog("ipi-handle", work)
	}
	s.owork.ipiRuns.count(work) // counters, per work: order nothing, read by Stats
	if inUser {
		s.ostats.ipisInUser.Inc() // counter: orders nothing, read by Stats
	}
	// store, deferred so that it follows every handler, and happens even
	// if one panics or calls runtime.Goexit (Drain runs the others first):
	// pairs with the load in DeferWait's wait.
	defer s.ipiDone.Store(gen)
	s.table.Drain(work)
}
