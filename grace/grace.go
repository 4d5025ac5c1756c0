package grace

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// The kernel-stretch grace-period engine: Start, Poll, Completed, Wait and
// Synchronize, with no background goroutine.
//
// The engine's words:
//   - ctl = seq<<1 | drive: the grace-period sequence, and the driver's lock;
//   - need: the highest token requested.
//
// A grace period snapshots every claimed CPU's context-tracking word once,
// then scans the CPUs found in the kernel until each has made a transition
// or a Quiesce, or has been released. It nudges the laggards once
// NudgeAfter has passed. Checkpoint is the owner's report point.
//
// The protocol and its invariants (grace periods cover what began before, a
// poll point is not a quiescent state, no request left behind, nudges are
// bounded): docs/design/grace.md.

// Token identifies a grace period to wait for, from Start. The zero Token
// is always complete. Tokens from different Domains must not be mixed.
type Token struct{ seq uint64 }

// stretch is the kernel-stretch flavour's engine, behind a Domain made by
// New.
type stretch struct {
	_ percpu.NoCopy

	// The engine's words, one line each (docs/design/grace.md). Each group
	// starts with its 64-bit atomic and fills whole lines, so they stay
	// 8-byte aligned on 32-bit platforms.
	seqLine
	_ [(percpu.CacheLine - unsafe.Sizeof(seqLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	needLine
	_ [(percpu.CacheLine - unsafe.Sizeof(needLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	statsLine
	_ [(percpu.CacheLine - unsafe.Sizeof(statsLine{})%percpu.CacheLine) % percpu.CacheLine]byte

	// Read-only after New.
	d          *ctdefer.Domain
	v          *corelink.View[ctdefer.CPU] // d's words and services for its siblings
	cpus       percpu.Index                // the Domain's CPU numbers, in its order; positions in per
	work       ctdefer.Work
	nudge      bool          // nudge laggards at all
	nudgeAfter time.Duration // 0: at the first scan
	spin       time.Duration
	debug      bool
	log        *slog.Logger
	per        []perCPU

	// Driver state: only the goroutine holding drive touches it.
	pending []int32          // indices of the CPUs holding up the grace period
	snaps   []ctseq.Snapshot // per index: the snapshot of the grace period in progress
	clock   time.Time        // when the first scan found a laggard
	clocked bool

	rec reclaimer

	// The expedited barriers' wait lists (expedited.go): the Domain's own,
	// held under bmu by one barrier at a time, and a pool for concurrent
	// callers.
	bmu      atomicx.Mutex
	bown     *barrierScratch
	barriers sync.Pool
}

type seqLine struct {
	// ctl holds the grace-period sequence and the driver's lock in one
	// word, so that a grace period over quiet CPUs costs one CAS and one
	// store: ctl>>1 is seq (2*completed, +1 while one is in progress;
	// changed only by the driver) and ctl&1 is drive (1 while a goroutine
	// drives the engine: it guards the driver state). Loaded by everyone.
	ctl atomicx.Uint64
}

// seqNow is the grace-period sequence (one load of ctl).
func (g *stretch) seqNow() uint64 {
	return g.ctl.Load() >> 1 // load: pairs with the driver's stores of ctl
}

type needLine struct {
	// need is the highest token requested (Start's CAS loop raises it; the
	// driver loads it). need <= seq means nothing is requested.
	need atomicx.Uint64
}

type statsLine struct {
	nudges  atomicx.Uint64 // nudges posted
	reports atomicx.Uint64 // quiescent states reported at Checkpoint after a nudge
	bIPIs   atomicx.Uint64 // IPIs posted by expedited barriers
	bgen    atomicx.Uint64 // expedited-barrier generation: also the number of barriers
}

// perCPU is one CPU's grace-period state, in two line groups.
type perCPU struct {
	driverSide
	_ [(percpu.CacheLine - unsafe.Sizeof(driverSide{})%percpu.CacheLine) % percpu.CacheLine]byte
	ownerSide
	_ [(percpu.CacheLine - unsafe.Sizeof(ownerSide{})%percpu.CacheLine) % percpu.CacheLine]byte
}

// driverSide is written by the grace-period driver and by barrier callers;
// the nudge handler reads it when it runs.
type driverSide struct {
	heldGP   atomicx.Uint64 // the grace period (odd seq) this CPU holds up, or 0
	snapSeq  atomicx.Uint64 // its word's sequence at that grace period's snapshot
	nudgedGP atomicx.Uint64 // the grace period that nudged it last
	breq     atomicx.Uint64 // highest barrier generation posted to it (CAS max)
}

// ownerSide is written by the nudge handler, which runs on the owner's
// thread (or on its behalf while it is parked: never concurrently with the
// owner), and read by the owner's Checkpoint and by waiters.
type ownerSide struct {
	seenGP atomicx.Uint64 // the grace period whose nudge the handler ran last
	back   atomicx.Uint64 // the barrier generation the handler acknowledged
	asked  atomicx.Uint32 // 1: report at the next Checkpoint
}

// newStretch is New's engine: d is not nil.
func newStretch(d *ctdefer.Domain, opts Options) (*stretch, error) {
	cpus, err := percpu.NewIndex(d.CPUs(), ctdefer.ErrInvalid, nil) // a Domain's CPUs: valid
	if err != nil {
		return nil, fmt.Errorf("grace: New: %w", err)
	}
	g := &stretch{
		d:          d,
		v:          corelink.Of[ctdefer.CPU](d),
		cpus:       cpus,
		nudge:      opts.NudgeAfter >= 0,
		nudgeAfter: opts.NudgeAfter,
		spin:       opts.SpinWait,
		per:        make([]perCPU, cpus.Len()),
		pending:    make([]int32, 0, cpus.Len()),
		snaps:      make([]ctseq.Snapshot, cpus.Len()),
		debug:      opts.Debug,
		log:        opts.Logger,
	}
	switch {
	case opts.NudgeAfter == 0:
		g.nudgeAfter = defaultNudgeAfter
	case opts.NudgeAfter < time.Microsecond:
		g.nudgeAfter = 0
	}
	if g.spin == 0 {
		g.spin = defaultSpinWait
	}
	// RemoteSafe: the handler touches only this package's atomics, so a
	// nudge or barrier IPI to a CPU that has gone idle meanwhile runs on
	// the sender instead of waking it, inside a kernel stretch of the
	// CPU's word (IdleExit, handler, IdleEnter: ctdefer's runOnBehalf),
	// which is a transition for the grace period and the barrier alike.
	w, err := d.Register("grace", g.handle, ctdefer.RemoteSafe())
	if err != nil {
		return nil, fmt.Errorf("grace: New: %w", err)
	}
	g.work = w
	g.bown = newBarrierScratch(cpus.Len())
	g.rec.init(g, opts.MaxPending)
	return g, nil
}

// Start requests a grace period that begins after the call, advances the
// engine as far as it goes without waiting, and returns the token to poll.
// Concurrent callers share grace periods.
//
// Whether the grace period is complete when Start returns: if Start drives
// the engine itself (no other goroutine is driving it) and every claimed CPU
// is in user mode or idle, or has passed a quiescent state since a grace
// period in progress began, the token is complete on return. If another
// goroutine is driving (a Poll, a Wait, the reclaimer, a concurrent Start),
// Start only records the request and returns at once: that driver, or the
// caller's next Poll, completes it, even when every CPU is in user mode.
func (g *stretch) Start() Token {
	c := g.ctl.Load() // load: the token's seq; pairs with the driver's start store (grace periods cover what began before)
	s := c >> 1
	t := (s + 3) &^ 1
	// Fast path: no grace period runs (seq even) and nobody drives. The
	// request need not be published: the CAS below makes us the driver
	// and starts the grace period that serves t in one step (grace.md, steps 3
	// and 4); if it fails, someone else drives, and we fall back to raising
	// need. CAS: pairs with the driver's stores of ctl and with the CAS in
	// advance.
	if c&3 == 0 && g.ctl.CompareAndSwap(c, (s+1)<<1|1) {
		g.begin(s + 1)
		if len(g.pending) == 0 {
			// Every CPU was quiescent at begin's loads: drive1's first
			// round, inline. store: the grace period is over and the
			// engine given back in one step (grace.md, step 4b); pairs with the
			// loads in Completed. A request raised meanwhile for a later
			// grace period is not lost: release reloads need after this
			// store and, if it is above s+2, we drive again (advance).
			g.ctl.Store((s + 2) << 1)
			if g.release(true) {
				g.advance()
			}
			return Token{t}
		}
		if g.release(g.drive1()) {
			g.advance()
		}
		return Token{t}
	}
	for n := g.need.Load(); n < t; n = g.need.Load() { // load: first guess for the CAS
		// CAS: raise the request, never lowering it; pairs with the
		// driver's loads of need in drive1 and release (no request left behind).
		if g.need.CompareAndSwap(n, t) {
			break
		}
	}
	g.advance()
	return Token{t}
}

// Completed reports whether the grace period of t is over, without driving
// anything: one load.
func (g *stretch) Completed(t Token) bool {
	// load: pairs with the driver's end store: everything the
	// driver observed, hence every CPU's accesses before its quiescent
	// state, happens before a true answer.
	return g.seqNow() >= t.seq
}

// Poll reports whether the grace period of t is over, advancing the engine
// (starting a grace period, or scanning the CPUs it still waits for) if it
// is not: never blocks. CPUs still in a kernel stretch are
// nudged once NudgeAfter has passed since the grace period's first scan
// that found a CPU holding it up, so some goroutine must Poll (or Wait) now
// and then for a grace period to progress: there is no background driver.
func (g *stretch) Poll(t Token) bool {
	if g.Completed(t) {
		return true
	}
	g.advance()
	return g.Completed(t)
}

// Synchronize returns once every CPU of the Domain has passed a quiescent
// state since the call began: it was in user mode or idle, or has made a
// transition or reported (Quiesce, Checkpoint) since. CPUs in user mode or
// idle are not interrupted; CPUs in a kernel stretch are nudged once the
// grace period has waited NudgeAfter for them. If ctx ends first, it
// returns a *StallError naming the CPUs it waits for (it unwraps to
// ctx.Err()), within about a millisecond of ctx's end whatever
// Options.SpinWait is. A nil ctx is refused with an *ctdefer.ArgError.
//
// Everything a CPU did before its quiescent state happens before
// Synchronize returns (grace periods cover what began before:
// docs/design/grace.md gives the edge).
// Called by an owner inside a kernel stretch, or by a handler on its
// thread, it would wait for its own CPU: it returns an error wrapping
// ctdefer.ErrWouldDeadlock at once. A CPU whose owner exited without
// Release is taken back while Synchronize waits for it (see the package
// documentation).
func (g *stretch) Synchronize(ctx context.Context) error {
	if ctx == nil {
		return nilContext("Synchronize")
	}
	// The common case, every CPU in user mode or idle: Start completes the
	// grace period itself, and one load says so.
	if t := g.Start(); !g.Completed(t) {
		return waitOn(g, ctx, "Synchronize", t)
	}
	return nil
}

// Wait blocks until the grace period of t is over, driving the engine,
// or until ctx ends (then a *StallError, as Synchronize). A nil ctx is
// refused with an *ctdefer.ArgError. Called by an owner inside a kernel stretch,
// it returns an error wrapping ctdefer.ErrWouldDeadlock as soon as the grace
// period of t needs the caller's CPU (it has not begun, or it holds the
// CPU); one that began while the CPU was in user mode is waited for.
func (g *stretch) Wait(ctx context.Context, t Token) error {
	return waitOn(g, ctx, "Wait", t)
}

// advance takes the engine if it is free and drives it (no request left behind).
func (g *stretch) advance() {
	for {
		// CAS: become the driver (set drive, keep seq: only a driver
		// changes seq, so a CAS that fails means someone else drives);
		// pairs with the stores of ctl in drive1 and release.
		c := g.ctl.Load() // load: first guess for the CAS
		if c&1 != 0 || !g.ctl.CompareAndSwap(c, c|1) {
			return
		}
		if !g.release(g.drive1()) {
			return
		}
	}
}

// release gives the engine back, unless drive1 did already, and
// reports whether a request arrived meanwhile that no grace period serves
// yet: the caller must then try to drive again.
func (g *stretch) release(released bool) bool {
	if !released {
		// store: give the engine back; pairs with the CAS in advance and
		// Start. Only the driver changes ctl, and we are it.
		g.ctl.Store(g.ctl.Load() &^ 1)
	}
	c := g.ctl.Load() // load: after our store; another driver may have taken the engine since
	s := c >> 1
	// load: a request raised meanwhile (pairs with Start's CAS on need).
	return c&1 == 0 && s&1 == 0 && g.need.Load() > s
}

// drive1 starts and scans grace periods until the engine has nothing to do without
// waiting, and reports whether it gave the engine back with the
// store that ended the last grace period. Only the driver calls it.
func (g *stretch) drive1() (released bool) {
	for {
		s := g.ctl.Load() >> 1 // load: only the driver stores ctl, and we are it
		if s&1 == 0 {
			if g.need.Load() <= s { // load: pairs with Start's CAS
				return false
			}
			s++
			// store: the grace period starts, still driving.
			// Every snapshot in begin comes after it in the total order,
			// hence after the Start loads that computed a token this
			// grace period serves (pairs with the load in Start).
			g.ctl.Store(s<<1 | 1)
			g.begin(s)
		}
		// scan, unless begin found every CPU quiescent already.
		if len(g.pending) != 0 && !g.scan(s) {
			return false
		}
		// store: the grace period is over. Pairs with the
		// loads in Completed: every load the scans made, which observed
		// each CPU's quiescent state, happens before a waiter's return.
		// With nothing else requested (load: pairs with Start's CAS on
		// need) the same store gives the engine back: release reloads
		// need after it, as after its own store.
		if g.need.Load() <= s+1 {
			g.ctl.Store((s + 1) << 1)
			return true
		}
		g.ctl.Store((s+1)<<1 | 1)
	}
}

// begin snapshots every claimed CPU: s is the new, odd sequence, already stored in ctl (by
// drive1's store or Start's CAS).
func (g *stretch) begin(s uint64) {
	pending := g.pending[:0]
	for i, cpu := range g.cpus.List() {
		// load: the claimed flag, then the word, once. Unclaimed: nothing
		// runs there; a later Claim starts after this. User or Idle:
		// quiescent in itself (its next entry add comes after this load);
		// Kernel: pending.
		snap, claimed := g.v.Observe(cpu)
		if !claimed || snap.Quiescent() {
			continue
		}
		g.snaps[i] = snap
		pending = append(pending, int32(i))
		st := &g.per[i]
		st.snapSeq.Store(snap.Seq()) // store: diagnostics only
		st.heldGP.Store(s)           // store: read by the nudge handler and diagnostics
	}
	g.pending, g.clocked = pending, false
}

// scan drops the CPUs that have passed a quiescent state (grace periods
// cover what began before) and
// reports whether none is left; it nudges the others when due.
func (g *stretch) scan(s uint64) bool {
	keep := g.pending[:0]
	for _, i := range g.pending {
		cpu, st := g.cpus.List()[i], &g.per[i]
		// load (QuiescentSince): pairs with the owner's transition or
		// Quiesce add, which it observes when it answers true.
		quiet := g.v.QuiescentSince(cpu, g.snaps[i]) ||
			!g.v.Claimed(cpu) // load: pairs with the store in Release
		if quiet {
			st.heldGP.Store(0) // store: diagnostics and the nudge handler
			continue
		}
		keep = append(keep, i)
	}
	g.pending = keep
	if len(keep) == 0 {
		return true
	}
	g.nudgeLaggards(s)
	return false
}

// nudgeLaggards nudges each CPU still pending once NudgeAfter has passed
// (nudges are bounded).
func (g *stretch) nudgeLaggards(s uint64) {
	if !g.nudge {
		return
	}
	if g.nudgeAfter > 0 {
		if !g.clocked {
			g.clock, g.clocked = time.Now(), true
			return
		}
		if time.Since(g.clock) < g.nudgeAfter {
			return
		}
	}
	posted := 0
	defer func() {
		if posted > 0 && g.log != nil {
			g.log.Debug("grace: grace period nudged CPUs in long kernel stretches",
				"grace_period", (s+1)/2, "nudged", posted, "pending", len(g.pending), "waited", time.Since(g.clock))
		}
	}()
	for _, i := range g.pending {
		st := &g.per[i]
		prev := st.nudgedGP.Load() // load: only the driver writes it, and we are it
		if prev == s {
			continue
		}
		// store: before the post; the handler's load of it is ordered
		// after by the mailbox CAS pair (post, claim) inside Defer.
		st.nudgedGP.Store(s)
		// Defer, not IPI: Defer never blocks (the driver must not wait
		// on one CPU while others report) and never interrupts a CPU
		// that has returned to user mode meanwhile (it defers; the
		// transition already ended the wait). An error means the
		// ctdefer.Domain is closing: nothing is posted, so the CPU is
		// not recorded as nudged (diagnostics), and it stays pending
		// until its owner leaves the stretch or releases it.
		if _, err := g.d.Defer(g.cpus.List()[i], g.work); err != nil {
			st.nudgedGP.Store(prev) // store: undo; a stale handler asks nothing either way
			continue
		}
		g.nudges.Inc()
		posted++
	}
}

// handle is the nudge and barrier-IPI handler: it asks for a report, never
// makes one (a poll point is not a quiescent state). It runs on the
// CPU's owner at a poll point, or on its behalf while it is parked.
func (g *stretch) handle(cpu int) {
	st := &g.per[g.cpus.Of(cpu)]
	// Barrier: acknowledge every request posted before this run. load:
	// pairs with the requester's CAS, which precedes its post.
	if r := st.breq.Load(); r > st.back.Load() {
		st.back.Store(r) // store: pairs with the barrier's load in its wait
	}
	// Grace period: ask for a report if the nudge is for the grace period
	// this CPU still holds up (a stale nudge, run after the CPU was seen,
	// asks nothing).
	if gp := st.nudgedGP.Load(); gp != 0 && gp == st.heldGP.Load() {
		st.seenGP.Store(gp)
		st.asked.Store(1) // store: read by Checkpoint on the same thread
	}
}

// Checkpoint is Domain.Checkpoint's engine.
func (g *stretch) Checkpoint(c *ctdefer.CPU) {
	st := g.perOf(c)
	c.Poll()
	if st.asked.Load() == 0 { // load: the handler's store (same thread, or a finished borrow)
		return
	}
	st.asked.Store(0) // store: only the owner clears it
	if g.v.State(c.CPU()) != ctseq.Kernel {
		return // user mode (the owner's own word): already quiescent, nothing to report
	}
	g.v.Quiesce(c, "grace.Domain.Checkpoint") // RMW: the quiescent state; pairs with the driver's QuiescentSince load
	g.reports.Inc()
}

func (g *stretch) perOf(c *ctdefer.CPU) *perCPU {
	if c == nil {
		misuse("Domain.Checkpoint", -1, "nil CPU", "nil *ctdefer.CPU")
	}
	cpu := c.CPU()
	i := g.cpus.Of(cpu)
	if !g.v.Owns(c) || i < 0 {
		misuse("Domain.Checkpoint", cpu, "wrong domain", "the CPU is not a CPU of this grace Domain's ctdefer.Domain")
	}
	return &g.per[i]
}

// stallError describes the grace period in progress and its laggards.
func (g *stretch) stallError(op string, waited time.Duration, err error) error {
	s := g.seqNow() // load: the grace period in progress, if any
	e := &StallError{Op: op, Waited: waited, Err: err}
	if s&1 == 0 {
		return e
	}
	for i, cpu := range g.cpus.List() {
		st := &g.per[i]
		if st.heldGP.Load() != s {
			continue
		}
		e.CPUs = append(e.CPUs, g.stalled(cpu, st.snapSeq.Load(), st.nudgedGP.Load() == s, st.seenGP.Load() == s))
	}
	return e
}

func (g *stretch) stalled(cpu int, snapSeq uint64, nudged, handled bool) StalledCPU {
	now, _ := g.v.Snapshot(cpu)
	return StalledCPU{CPU: cpu, State: now.State(), Seq: now.Seq(), SnapSeq: snapSeq, Nudged: nudged, Handled: handled}
}

// Stats counts what a Domain did.
type Stats struct {
	GracePeriods uint64 // grace periods completed
	Started      uint64 // grace periods started: snapshot rounds
	Nudges       uint64 // nudges posted to CPUs in long kernel stretches
	Reports      uint64 // quiescent states reported at Checkpoint (in the kernel) after a nudge
	Barriers     uint64 // expedited barriers
	BarrierIPIs  uint64 // IPIs the expedited barriers posted
	Retired      uint64 // callbacks retired
	Reclaimed    uint64 // retired callbacks run
	Pending      uint64 // retired callbacks not yet run
	Sleeps       uint64 // QSBR: futex sleeps by waiters; memb: waiters' sleeps of a full millisecond
	Wakeups      uint64 // QSBR: wake-ups issued by readers and drivers

	// Membarrier (memb flavour): the read side relies on
	// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), with plain stores and
	// no fence; false: membarrier is missing (old kernel, sandbox,
	// non-Linux) and the read side fences (liburcu's mb flavour).
	Membarrier  bool
	Membarriers uint64 // memb: membarrier calls by grace periods and waiters
	Readers     uint64 // memb: Handles registered
}

// Stats returns the Domain's counters.
func (g *stretch) Stats() Stats {
	st := Stats{
		GracePeriods: g.seqNow() / 2, // load: seq counts them (see seqLine)
		Started:      (g.seqNow() + 1) / 2,
		Nudges:       g.nudges.Load(),
		Reports:      g.reports.Load(),
		Barriers:     g.bgen.Load(),
		BarrierIPIs:  g.bIPIs.Load(),
	}
	st.Retired, st.Reclaimed = g.rec.counts()
	st.Pending = st.Retired - st.Reclaimed
	return st
}
