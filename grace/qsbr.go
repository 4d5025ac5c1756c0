package grace

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"
	"unsafe"
	"weak"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// The QSBR flavour (liburcu's, on the CPUs of a ctdefer.Domain): readers
// hold references anywhere, user mode included, between two reports.
//
// The words:
//   - gp: the number of grace periods started;
//   - done: the number completed;
//   - ctr: one per reader, its last report, or offline;
//   - sleep: a futex word for sleeping waiters.
//
// Reports are one load and one compare on the fast path. Idle and unclaimed
// CPUs are skipped with loads only, and no CPU is ever interrupted.
//
// The protocol and its invariants (grace periods cover what began before,
// no sleeping through a report), and the waits' slow paths (exited owners,
// stale registrations, sleep at once): docs/design/grace.md.

// offline is a reader's ctr while it holds nothing: every grace period
// number is below it, so the scan's one comparison covers both cases.
const offline = math.MaxUint64

// qsbr is the QSBR flavour's engine, behind a Domain made by NewQSBR:
// readers hold references in user mode, in a hot loop, and report where
// they hold none.
type qsbr struct {
	_ percpu.NoCopy

	// The engine's words, one line each.
	qsbrGP
	_ [(percpu.CacheLine - unsafe.Sizeof(qsbrGP{})%percpu.CacheLine) % percpu.CacheLine]byte
	qsbrDone
	_ [(percpu.CacheLine - unsafe.Sizeof(qsbrDone{})%percpu.CacheLine) % percpu.CacheLine]byte
	qsbrDrive
	_ [(percpu.CacheLine - unsafe.Sizeof(qsbrDrive{})%percpu.CacheLine) % percpu.CacheLine]byte
	qsbrSleep
	_ [(percpu.CacheLine - unsafe.Sizeof(qsbrSleep{})%percpu.CacheLine) % percpu.CacheLine]byte

	// Read-only after NewQSBR.
	d       *ctdefer.Domain
	v       *corelink.View[ctdefer.CPU] // d's words and services for its siblings
	cpus    percpu.Index
	spin    time.Duration
	debug   bool
	log     *slog.Logger
	readers []Reader
	unwatch func() // removes wake from the Domain's watchers (Close)

	// Driver state, under drive: per reader, the registration last
	// logged as stale (gone).
	staleLogged []*weak.Pointer[ctdefer.CPU]

	rec reclaimer
}

type qsbrGP struct {
	gp atomicx.Uint64 // grace periods started: stored by the driver, loaded by readers
}

type qsbrDone struct {
	done atomicx.Uint64 // grace periods completed: stored by the driver, loaded by waiters
}

type qsbrDrive struct {
	// drive is held while a goroutine drives the engine (start, scan, end).
	drive atomicx.Mutex
}

type qsbrSleep struct {
	sleep   atomicx.Futex  // 1 while a waiter may sleep on it (no sleeping through a report)
	sleeps  atomicx.Uint64 // statistics: futex sleeps by waiters
	wakeups atomicx.Uint64 // statistics: wake-ups issued by readers and drivers
}

// Reader is one CPU's read side in a QSBR domain, for its owner: get it
// with Domain.Reader (QSBR flavour) after Claim. Its methods are for the owner's thread
// only. A Reader is online from Domain.Reader on.
type Reader struct {
	readerLine
	_ [(percpu.CacheLine - unsafe.Sizeof(readerLine{})%percpu.CacheLine) % percpu.CacheLine]byte
}

type readerLine struct {
	// ctr is the report (see the protocol): written by the owner, read by
	// drivers.
	ctr atomicx.Uint64
	// where is the CPU the owner's thread ran on when it registered, plus
	// one (0: unknown): a waiter that finds the reader holding a grace
	// period up and itself on that CPU sleeps at once, since the reader
	// can only run once the waiter stops. A hint for the wait policy, not
	// part of the protocol. Stored by Domain.Reader, loaded by waiters.
	where atomicx.Uint32
	// Owner-only below: written by Reader and Domain.Reader, on the owner.
	gp   *atomicx.Uint64 // &q.gp: the fast path's one load
	seen uint64          // the grace periods started at the last report
	off  bool            // Offline was called
	q    *qsbr
	cpu  int
	tid  int // the owner's thread at registration (Debug)
	// claim is the claim the reader was registered for (Domain.Reader):
	// written by the owner, read by drivers on their slow path (gone).
	claim atomicx.Pointer[weak.Pointer[ctdefer.CPU]]
}

// newQSBR is NewQSBR's engine: d is not nil.
func newQSBR(d *ctdefer.Domain, opts Options) (*qsbr, error) {
	cpus, err := percpu.NewIndex(d.CPUs(), ctdefer.ErrInvalid, nil) // a Domain's CPUs: valid
	if err != nil {
		return nil, fmt.Errorf("grace: NewQSBR: %w", err)
	}
	q := &qsbr{d: d, v: corelink.Of[ctdefer.CPU](d), cpus: cpus, spin: opts.SpinWait, debug: opts.Debug, log: opts.Logger, readers: make([]Reader, cpus.Len()),
		staleLogged: make([]*weak.Pointer[ctdefer.CPU], cpus.Len())}
	if q.spin == 0 {
		q.spin = defaultSpinWait
	}
	q.sleep.Init()
	for i := range q.readers {
		r := &q.readers[i]
		r.ctr.Store(offline) // store: before the domain is shared
		r.gp, r.q, r.cpu, r.off = &q.gp, q, cpus.List()[i], true
	}
	q.rec.init(q, opts.MaxPending)
	// The core calls wake when a CPU parks or is released: a sleeping
	// waiter over it learns at once (no sleeping through a report).
	q.unwatch = q.v.Watchers.Add(q.wake)
	return q, nil
}

// Reader is Domain.Reader.
func (q *qsbr) Reader(c *ctdefer.CPU) *Reader {
	if c == nil {
		misuse("Domain.Reader", -1, "nil CPU", "nil *ctdefer.CPU")
	}
	if !q.v.Owns(c) {
		misuse("Domain.Reader", c.CPU(), "wrong domain", "the CPU is not a CPU of this grace Domain's ctdefer.Domain")
	}
	claim := weak.Make(c)
	if q.v.Holder(c.CPU()) != claim { // loads: c's CPU's claim now
		misuse("Domain.Reader", c.CPU(), "released handle", "handle used after Release")
	}
	r := &q.readers[q.cpus.Of(c.CPU())]
	r.tid = sysx.Gettid() // owner-only field: the new owner's thread
	where := uint32(0)
	if cpu, err := sysx.CurrentCPU(); err == nil {
		where = uint32(cpu) + 1
	}
	r.where.Store(where) // store: the wait policy's hint; pairs with laggardsHere's load
	// store: before Online's report; a driver that loads the previous
	// registration here (gone) loaded ctr before this store, and Online's
	// load of gp, which every later read of the owner follows, comes after
	// the driver's start store.
	r.claim.Store(&claim)
	r.Online()
	return r
}

// Quiescent reports a quiescent state: the owner holds no reference to
// anything this domain protects here (rcu_quiescent_state). With no grace
// period waiting since the last report it is one load and one compare, and
// it inlines; otherwise it publishes the report and wakes a sleeping waiter.
// Owner only, while online.
func (r *Reader) Quiescent() {
	// load: the grace periods started; pairs with the driver's start store.
	if r.gp.Load() != r.seen {
		r.report()
	}
}

// report is Quiescent's slow path: publish the report, then wake a sleeper.
func (r *Reader) report() {
	r.checkOwner("Quiescent")
	if r.off {
		if r.q.debug {
			misuse("Reader.Quiescent", r.cpu, "offline", "the reader is offline: call Online before reading again")
		}
		return // an offline reader stays offline
	}
	g := r.gp.Load() // load: as in Quiescent
	r.seen = g
	// store: the report; pairs with the driver's scan load. It is
	// sequentially consistent: a full barrier between the owner's earlier
	// reads and the load of sleep below (liburcu's smp_mb).
	r.ctr.Store(g)
	r.q.wake()
}

// Online starts a read-side stretch after Offline (rcu_thread_online): the
// owner may hold references from now on until its next report. Going online
// is itself a report (it wakes a sleeping waiter). Owner only.
func (r *Reader) Online() {
	r.checkOwner("Online")
	g := r.gp.Load() // load: as in Quiescent
	r.seen, r.off = g, false
	// store: pairs with the driver's scan load; sequentially consistent, so
	// the owner's reads after it see what an updater published before the
	// grace period started (or the scan waits for this reader).
	r.ctr.Store(g)
	r.q.wake()
}

// Offline ends the owner's read-side stretches until Online
// (rcu_thread_offline): before it blocks, sleeps, parks or releases its CPU,
// so that no grace period waits for it. It wakes a sleeping waiter. Owner
// only.
func (r *Reader) Offline() {
	r.checkOwner("Offline")
	r.off = true
	if r.q.debug {
		// No grace period count equals offline: Quiescent's fast path
		// always misses, so report's check panics whatever ran since.
		r.seen = offline
	}
	r.ctr.Store(offline) // store: after every use; pairs with the driver's scan load
	r.q.wake()
}

// checkOwner panics, with Debug, if the caller is not the thread that
// registered the reader: Reader's methods are owner-only.
func (r *Reader) checkOwner(method string) {
	if !r.q.debug {
		return
	}
	if tid := sysx.Gettid(); tid > 0 && tid != r.tid {
		misuse("Reader."+method, r.cpu, "wrong thread", fmt.Sprintf("called on thread %d, but the reader was registered on thread %d: "+
			"Reader methods are for the CPU's owner", tid, r.tid))
	}
}

// wake wakes the waiters asleep on the futex, if any (no sleeping through a report).
func (q *qsbr) wake() {
	// load: pairs with the waiter's Store(1) before its last scan.
	// CAS: one waker per announcement; pairs with the futex compare.
	if q.sleep.Load() != 0 && q.sleep.CompareAndSwap(1, 0) {
		q.wakeups.Inc() // statistics only
		q.sleep.Wake()
	}
}

// Start requests a grace period that begins after the call, drives the
// engine as far as it goes without waiting (if no other goroutine drives
// it), and returns the token to poll. Concurrent callers share grace
// periods.
func (q *qsbr) Start() Token {
	// load: a grace period numbered above the count started so far begins
	// after this load (pairs with the driver's start store).
	t := Token{q.gp.Load() + 1}
	q.advance(t, false)
	return t
}

// Completed reports whether the grace period of t is over, without driving
// anything: one load.
func (q *qsbr) Completed(t Token) bool {
	return q.done.Load() >= t.seq // load: pairs with the driver's end store
}

// Poll reports whether the grace period of t is over, driving the engine if
// it is not and no other goroutine drives it: it never blocks.
func (q *qsbr) Poll(t Token) bool {
	if q.Completed(t) {
		return true
	}
	q.advance(t, false)
	return q.Completed(t)
}

// advance drives the engine toward t (start, scan, end): with block, it waits
// for the drive lock; otherwise it returns if another goroutine holds it.
func (q *qsbr) advance(t Token, block bool) {
	if block {
		q.drive.Lock()
	} else if !q.drive.TryLock() {
		return
	}
	for {
		k := q.gp.Load()        // load: only the holder of drive stores gp and done
		if q.done.Load() == k { // load: as gp's; equal means no grace period in progress
			if k >= t.seq {
				break
			}
			k++
			q.gp.Store(k) // store: the start; pairs with the readers' loads
		}
		if !q.scan(k) {
			break
		}
		q.done.Store(k) // store: the end; pairs with Completed's load
		q.wake()
	}
	q.drive.Unlock()
}

// scan reports whether every reader has passed grace period k (grace periods cover what
// began before).
func (q *qsbr) scan(k uint64) bool {
	for i := range q.readers {
		if q.readers[i].ctr.Load() >= k { // load: pairs with the owner's report store
			continue
		}
		if !q.skippable(q.cpus.List()[i]) && !q.goneLogged(i) {
			return false
		}
	}
	return true
}

// gone reports whether reader i's registration is no longer its CPU's
// claim: the CPU was released (without Offline, a misuse) and claimed since
// by an owner that did not register a reader. That owner's reads are not
// this reader's; the registered owner's ended at its Release, which came
// before the Claim that Holder sees. A new Claim under way may still show
// the old claim: the reader is then waited for, a wait longer than needed.
func (q *qsbr) gone(i int) bool {
	r := &q.readers[i]
	reg := r.claim.Load() // load: pairs with the store in Domain.Reader
	// loads (Holder): pairs with Claim's CAS and store of the handle.
	return reg != nil && *reg != q.v.Holder(r.cpu)
}

// goneLogged is gone for the driver's scan, which logs each stale
// registration once (Warn): the mistake is in the program, and the stall it
// would have caused is far from it. A registration found stale stays so
// (a claim never becomes current again), so later scans skip it after one
// load.
func (q *qsbr) goneLogged(i int) bool {
	reg := q.readers[i].claim.Load() // load: as in gone
	if reg != nil && reg == q.staleLogged[i] {
		return true
	}
	// loads (Holder): as in gone.
	if reg == nil || *reg == q.v.Holder(q.readers[i].cpu) {
		return false
	}
	q.staleLogged[i] = reg
	if q.log != nil {
		q.log.Warn("grace: QSBR reader left online when its CPU was released (call Reader.Offline before "+
			"CPU.Release); the CPU's new owner registered no reader: grace periods no longer wait for it", "cpu", q.readers[i].cpu)
	}
	return true
}

// skippable reports whether cpu holds nothing although its reader has not
// reported: parked, or unclaimed.
func (q *qsbr) skippable(cpu int) bool {
	// load (Snapshot): pairs with the owner's IdleEnter add.
	if snap, ok := q.v.Snapshot(cpu); ok && snap.State() == ctseq.Idle {
		return true
	}
	return !q.v.Claimed(cpu) // load: pairs with Release's store
}

// Synchronize returns once every online reader has reported a quiescent
// state since the call began, or gone offline, idle or been released
// (synchronize_rcu). Waiters poll for Options.SpinWait, then sleep on a
// futex that the reporting reader wakes; a waiter that runs on the CPU of a
// reader it waits for sleeps at once, since that reader runs only when the
// waiter stops. If ctx ends first, it returns a *StallError naming the
// readers it waits for (it unwraps to ctx.Err()). A nil ctx is
// refused with an *ctdefer.ArgError.
//
// Called by an online reader on its own thread, Synchronize takes the
// reader offline for the wait and back online before it returns, as
// liburcu's synchronize_rcu does, so it never waits for its caller: the
// caller must hold no reference across the call. Wait and Barrier do the
// same.
func (q *qsbr) Synchronize(ctx context.Context) error {
	return waitOn(q, ctx, "Synchronize", q.Start())
}

// Wait blocks until the grace period of t is over, or until ctx ends (then
// a *StallError, as Synchronize). A nil ctx is refused with an *ctdefer.ArgError.
func (q *qsbr) Wait(ctx context.Context, t Token) error {
	return waitOn(q, ctx, "Wait", t)
}

// maxSleep caps each futex sleep of a waiter. Reports, Offline, and a CPU
// that parks or is released wake it at once (the last two through the
// core's watchers); an owner that exits without Release wakes nobody, and
// the waiter looks for one every reapEvery sleeps. (A variable only so that
// tests can lengthen it and see that the wake-ups, not the cap, end the
// sleeps.)
var maxSleep = 10 * time.Millisecond

// quickPolls is how many polls a waiter makes before it looks for itself
// among the readers (a gettid system call): about a microsecond.
const quickPolls = 32

// waitFor implements engine: spin, then announce and sleep on the futex (no
// sleeping through a report). Under
// the interleaving explorer (ctdefer_explore builds) it does not spin, which
// would give unbounded schedules: it goes straight to the futex protocol,
// whose sleep the explorer models (a missing wake-up is a deadlock).
func (q *qsbr) waitFor(ctx context.Context, t Token) error {
	// A waiter on the CPU of a reader it waits for sleeps as soon as only
	// such readers hold the grace period up: they run only once it stops.
	// Until then (readers on other CPUs report within a microsecond in a hot
	// loop) it polls, so that none of their reports wakes it for nothing:
	// one context switch per grace period. Any other waiter polls a few
	// times before the check for the caller's own reader, which costs a
	// system call; a caller that is itself an online reader loses only
	// these polls before it goes offline.
	here, onlyHere := false, false
	if !atomicx.Instrumented {
		here, onlyHere = q.laggardsHere()
	}
	if !here && !atomicx.Instrumented {
		for range quickPolls {
			if q.Poll(t) {
				return nil
			}
		}
	}
	if r := q.onlineCaller(); r != nil {
		r.Offline() // the caller would otherwise wait for itself
		defer r.Online()
	}
	deadline, hasDeadline := ctx.Deadline()
	if !onlyHere && !atomicx.Instrumented {
		spinEnd := time.Now().Add(q.spin)
		for round := 1; ; round++ {
			for range 16 {
				if q.Poll(t) {
					return nil
				}
			}
			if here {
				if _, onlyHere = q.laggardsHere(); onlyHere {
					break
				}
			}
			now := time.Now()
			if err := ctxErr(ctx, now, deadline, hasDeadline); err != nil {
				return err
			}
			if !now.Before(spinEnd) {
				break
			}
			if round%32 == 0 && !here {
				// A reader that is not running needs a P to report; one
				// that is running reports within a few polls, and a
				// yield in between would only delay seeing it.
				runtime.Gosched()
			}
		}
	}
	for n := 1; ; n++ {
		q.sleep.Store(1) // store: announce the sleep; pairs with the wakers' load
		q.advance(t, true)
		if q.Completed(t) {
			return nil
		}
		now := time.Now()
		if err := ctxErr(ctx, now, deadline, hasDeadline); err != nil {
			return err
		}
		if n%reapEvery == 0 && q.reapLaggards(n) {
			continue // scan again at once: a CPU taken back holds nothing
		}
		d := maxSleep
		if hasDeadline {
			d = min(d, deadline.Sub(now))
		}
		q.sleeps.Inc() // statistics only
		q.sleep.WaitFor(1, d)
	}
}

// reapLaggards looks, at the n-th sleep of a wait, for the readers holding
// the grace period in progress up whose owner exited without Release, and
// takes their CPUs back (ctdefer's ReapExited, as the kernel-stretch
// flavour's reap): the next scan finds them unclaimed. It reports whether it
// took any back. Not under the interleaving explorer, whose owners do not
// exit and whose schedules must not include these loads.
func (q *qsbr) reapLaggards(n int) bool {
	if atomicx.Instrumented {
		return false
	}
	k := q.gp.Load()        // load: the grace period in progress, if any
	if q.done.Load() == k { // load: as gp's
		return false
	}
	reaped := false
	for i := range q.readers {
		r := &q.readers[i]
		if r.ctr.Load() >= k || q.skippable(r.cpu) { // loads: as in scan
			continue
		}
		if q.v.ReapExited(r.cpu, n%(reapEvery*reapEvery) == 0) {
			logReaped(q.log, r.cpu)
			reaped = true
		}
	}
	return reaped
}

// ctxErr is ctx's error, or context.DeadlineExceeded once its deadline has
// passed even if ctx has not noticed yet.
func ctxErr(ctx context.Context, now, deadline time.Time, hasDeadline bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if hasDeadline && !now.Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Barrier waits until every function retired before the call has run
// (rcu_barrier), as Domain.Barrier. Called by an online reader on its own
// thread, it takes the reader offline for the wait, as Synchronize does.
func (q *qsbr) Barrier(ctx context.Context) error {
	if ctx != nil {
		if r := q.onlineCaller(); r != nil {
			r.Offline() // the callbacks' grace periods would wait for the caller
			defer r.Online()
		}
	}
	return q.rec.barrier(ctx)
}

// Close refuses new Retires, runs every function already retired after its
// grace period and stops the reclaimer, as Domain.Close. Close it before the
// ctdefer.Domain, while the readers still report.
func (q *qsbr) Close(ctx context.Context) error {
	defer q.unwatch() // later waits find a parked or released CPU within maxSleep
	return q.rec.close(ctx)
}

// logger implements engine.
func (q *qsbr) logger() *slog.Logger { return q.log }

// stallError implements engine: the readers holding the grace period in
// progress up.
func (q *qsbr) stallError(op string, waited time.Duration, err error) error {
	e := &StallError{Op: op, Waited: waited, Err: err}
	k := q.gp.Load()        // load: diagnostics; the grace period in progress, if any
	if q.done.Load() == k { // load: diagnostics; pairs with the driver's end store
		return e
	}
	for i := range q.readers {
		r := &q.readers[i]
		ctr := r.ctr.Load() // load: diagnostics
		if ctr >= k || q.skippable(r.cpu) || q.gone(i) {
			continue
		}
		snap, _ := q.v.Snapshot(r.cpu)
		e.CPUs = append(e.CPUs, StalledCPU{
			CPU: r.cpu, State: snap.State(), Seq: snap.Seq(), SnapSeq: snap.Seq(),
			Reader: true, LastReport: ctr, GracePeriod: k,
		})
	}
	return e
}

// Stats returns the domain's counters: GracePeriods, Started, Retired,
// Reclaimed, Pending, Sleeps and Wakeups (the others are the kernel-stretch
// flavour's and stay zero).
func (q *qsbr) Stats() Stats {
	st := Stats{GracePeriods: q.done.Load(), Started: q.gp.Load(), Sleeps: q.sleeps.Load(), Wakeups: q.wakeups.Load()} // loads: statistics
	st.Retired, st.Reclaimed = q.rec.counts()
	st.Pending = st.Retired - st.Reclaimed
	return st
}

// onlineCaller returns the caller's Reader if the caller owns a CPU of q
// and its reader, registered on the caller's thread, is online: a wait for
// a grace period would then wait for the caller itself. Otherwise nil. It
// costs a gettid system call and a lookup: waits call it on their slow path
// only.
func (q *qsbr) onlineCaller() *Reader {
	cpu, ok := q.v.CallerCPU()
	if !ok {
		return nil
	}
	// Owner-only fields, read by their owner: the caller owns cpu.
	if r := &q.readers[q.cpus.Of(cpu)]; !r.off && r.tid == sysx.Gettid() {
		return r
	}
	return nil
}

// laggardsHere reports whether a reader that holds the grace period in
// progress up registered on the CPU the caller runs on (here), and whether
// every such reader did (only): a reader pinned there runs only once the
// caller stops, so spinning for it would only delay it. One getcpu (RDTSCP
// on amd64, else a system call) and the readers' loads.
func (q *qsbr) laggardsHere() (here, only bool) {
	cpu, err := sysx.CurrentCPU()
	if err != nil {
		return false, false
	}
	k := q.gp.Load() // load: the grace period in progress; pairs with the driver's start store
	only = true
	for i := range q.readers {
		r := &q.readers[i]
		// loads: a hint; ctr pairs with the report store, where with
		// Domain.Reader's store.
		if r.ctr.Load() >= k {
			continue
		}
		if r.where.Load() == uint32(cpu)+1 {
			here = true
		} else if !q.skippable(r.cpu) {
			only = false
		}
	}
	return here, here && only
}
