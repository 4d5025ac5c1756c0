package grace

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// Domain is a grace-period domain: the write side (Synchronize,
// Start/Poll/Wait, Retire/TryRetire/Barrier, Close, Stats) of one flavour,
// chosen by its constructor:
//
//   - New: the kernel-stretch flavour. Readers are the kernel-mode stretches
//     of a ctdefer.Domain's CPUs, and pay nothing. Checkpoint and
//     ExpeditedBarrier are this flavour's own.
//   - NewQSBR: the QSBR flavour. Readers are the owners of a ctdefer.Domain's
//     CPUs, registered with Reader, and report quiescent states where they
//     hold nothing. Reader is this flavour's own.
//   - NewMemb: the memb flavour. Readers are any goroutines, with no
//     ctdefer.Domain: each brackets its reads with a Handle's Lock and
//     Unlock (rcu_read_lock, rcu_read_unlock). Register is this flavour's
//     own.
//
// A method of one flavour called on a Domain of the other is a misuse: it
// panics with a *ctdefer.MisuseError naming the method and the flavour. The
// zero Domain is not usable: create one with a constructor. A Domain is safe
// for concurrent use (each method says who may call it) and must not be
// copied.
type Domain struct {
	_ percpu.NoCopy
	// Exactly one is set, by the constructor; read-only after it. Two
	// pointers and a nil check rather than an interface: the write side's
	// calls stay direct, and Start's fast path inlines into the flavour's.
	s *stretch // New
	q *qsbr    // NewQSBR
	m *memb    // NewMemb
}

// Options configures a Domain of any flavour. The zero value is the
// documented default for every field. Each field says which flavours it
// applies to; a field set for a flavour it does not apply to is refused by
// the constructor with an *ctdefer.ArgError.
type Options struct {
	// NudgeAfter (kernel-stretch flavour only) is how long a grace period
	// waits for its laggards before nudging them. The clock is the grace
	// period's, not a CPU's: it starts at the first scan that finds some
	// CPU still holding the grace period up (the scan right after the
	// snapshot, normally), and once it has run out every CPU still pending
	// is nudged, at most once per grace period, at the next scan (some
	// goroutine must Poll or Wait). How long a CPU has already been in its
	// kernel stretch when the grace period begins does not count. Zero
	// means the default, a millisecond; a negative value means never; a
	// positive value below a microsecond means at the first scan that
	// finds a laggard.
	NudgeAfter time.Duration

	// SpinWait (every flavour) is how long a waiter (Synchronize, Wait,
	// Barrier, ExpeditedBarrier) polls before it sleeps: between checks
	// with a growing interval (up to a millisecond) in the kernel-stretch
	// and memb flavours, on a futex that the readers' reports wake in the
	// QSBR flavour. Zero means the default, 20 µs; negative means never
	// spin.
	SpinWait time.Duration

	// MaxPending (every flavour) bounds the callbacks retired and not yet
	// run: at the bound, Retire blocks until the reclaimer has completed a
	// grace period, and TryRetire fails with ErrBacklog. Zero means the
	// default, 65,536.
	MaxPending int

	// Logger (every flavour), if set, receives the events an operator
	// needs: a wait ended by its context (Synchronize, Wait, Barrier,
	// ExpeditedBarrier: Warn, with the *StallError naming the CPUs), a
	// Close that dropped retired callbacks (Error, with their count), a CPU
	// taken back from an owner that exited without Release while a wait
	// needed it (Warn); in the kernel-stretch flavour, a grace period that
	// had to nudge CPUs in long kernel stretches (Debug level: with long
	// stretches it is routine); in the QSBR flavour, a reader left online
	// on a CPU that has since changed owner (Warn); in the memb flavour, a
	// wait still waiting for readers after ten seconds (Warn, naming their
	// Handles' registration sites), a Handle dropped without Unregister
	// (Warn) or inside a section (Error), and a fallback to the fenced
	// read side at NewMemb (Info). Nil logs nothing.
	Logger *slog.Logger

	// Debug (every flavour) turns on the read-side checks. Pointer.Load by
	// the owner of a CPU of the Domain panics when it breaks its flavour's
	// rule: outside a kernel-mode stretch (kernel-stretch flavour: it does
	// not protect user mode); with its reader offline, unregistered or
	// idle (QSBR flavour). In the QSBR flavour, Reader's methods also check
	// that they run on the thread that registered the reader, and every
	// Quiescent on an offline reader panics (without Debug, Quiescent is
	// one load and one compare in every case). Each checked Pointer.Load
	// costs a gettid system call and a lookup (a few hundred nanoseconds,
	// against about a nanosecond without Debug), and each Reader method a
	// gettid: keep it for tests. Pointer.Load's check is compiled only
	// into race-detector builds (go test -race) and builds with the tag
	// ctdefer_debug: a plain build keeps Load the bare atomic load. In the
	// memb flavour, in those builds only, Handle misuse panics name the
	// Handle's registration site, and a Synchronize, Wait or Barrier inside
	// the caller's own read-side section returns an error wrapping
	// ctdefer.ErrWouldDeadlock (Pointer.Load is not checked: a goroutine's
	// sections are known only to its Handle).
	Debug bool
}

// The defaults of Options' zero values.
const (
	defaultNudgeAfter = time.Millisecond
	defaultSpinWait   = 20 * time.Microsecond
	defaultMaxPending = 1 << 16
)

// New creates a Domain of the kernel-stretch flavour over d. It registers
// one work kind on d (the nudge, also the expedited barrier's IPI), so it
// must be called before the first Claim; it fails with d's Register error
// otherwise (an *ctdefer.ArgError after the first Claim or beyond 16 kinds,
// ctdefer.ErrClosed), and with an *ctdefer.ArgError (ctdefer.ErrInvalid) if
// d is nil.
func New(d *ctdefer.Domain, opts Options) (*Domain, error) {
	if d == nil {
		return nil, nilArg("grace.New", "d")
	}
	s, err := newStretch(d, opts)
	if err != nil {
		return nil, err
	}
	return &Domain{s: s}, nil
}

// NewQSBR creates a Domain of the QSBR flavour over d's CPUs. It registers
// nothing on d, so it may be created at any time. A nil d, or Options
// that set NudgeAfter (the kernel-stretch flavour's), give an
// *ctdefer.ArgError.
func NewQSBR(d *ctdefer.Domain, opts Options) (*Domain, error) {
	if d == nil {
		return nil, nilArg("grace.NewQSBR", "d")
	}
	if opts.NudgeAfter != 0 {
		return nil, &ctdefer.ArgError{Call: "grace.NewQSBR", Arg: "opts.NudgeAfter", Value: opts.NudgeAfter,
			Reason: "applies only to the kernel-stretch flavour (grace.New): QSBR readers are never nudged"}
	}
	q, err := newQSBR(d, opts)
	if err != nil {
		return nil, err
	}
	return &Domain{q: q}, nil
}

// flavourName names g's flavour in misuse reports.
func (g *Domain) flavourName() string {
	switch {
	case g.s != nil:
		return "the kernel-stretch flavour (grace.New)"
	case g.q != nil:
		return "the QSBR flavour (grace.NewQSBR)"
	}
	return "the memb flavour (grace.NewMemb)"
}

// wrongFlavour panics: method belongs to the flavour want, not to g's.
func (g *Domain) wrongFlavour(method string, cpu int, want string) {
	panic(&ctdefer.MisuseError{Method: "grace.Domain." + method, CPU: cpu, Reason: "wrong flavour",
		Detail: fmt.Sprintf("%s is a method of %s; this Domain is %s", method, want, g.flavourName())})
}

// misuse panics with a *ctdefer.MisuseError naming grace's method
// ("Domain.Reader", "Handle.Lock").
func misuse(method string, cpu int, reason, detail string) {
	panic(&ctdefer.MisuseError{Method: "grace." + method, CPU: cpu, Reason: reason, Detail: detail})
}

// Start requests a grace period that begins after the call, advances the
// engine as far as it goes without waiting (if no other goroutine drives
// it), and returns the token to poll. Concurrent callers share grace
// periods.
//
// In the kernel-stretch flavour, if Start drives the engine itself and
// every claimed CPU is in user mode or idle, or has passed a quiescent
// state since a grace period in progress began, the token is complete on
// return. If another goroutine is driving (a Poll, a Wait, the reclaimer,
// a concurrent Start), Start only records the request and returns at once:
// that driver, or the caller's next Poll, completes it.
func (g *Domain) Start() Token {
	switch {
	case g.s != nil:
		return g.s.Start()
	case g.q != nil:
		return g.q.Start()
	}
	return g.m.Start()
}

// Poll reports whether the grace period of t is over (poll_state_synchronize_rcu):
// one load when it is. If it is not, Poll advances the engine (starting a
// grace period, or scanning the readers it still waits for) unless another
// goroutine drives it: it never blocks. Everything every reader did before
// the quiescent state the grace period observed happens before a true
// answer. There is no
// background driver: some goroutine must Poll (or Wait) now and then for a
// grace period to progress; in the kernel-stretch flavour, CPUs still in a
// kernel stretch are nudged once NudgeAfter has passed.
func (g *Domain) Poll(t Token) bool {
	switch {
	case g.s != nil:
		return g.s.Poll(t)
	case g.q != nil:
		return g.q.Poll(t)
	}
	return g.m.Poll(t)
}

// Synchronize returns once every reader has passed a quiescent state since
// the call began (synchronize_rcu): in the kernel-stretch flavour, every
// CPU was in user mode or idle, or has made a transition or reported
// (Quiesce, Checkpoint) since; in the QSBR flavour, every online reader has
// reported (Quiescent, Online) since, or gone offline, idle or been
// released; in the memb flavour, every read-side section that began before
// the call has ended (Handle.Unlock). Everything a reader did before its
// quiescent state happens before Synchronize returns (grace periods cover
// what began before).
//
// If ctx ends first, it returns a *StallError naming the CPUs it waits for
// (it unwraps to ctx.Err()), within about a millisecond of
// ctx's end whatever Options.SpinWait is. A nil ctx is refused with an
// *ctdefer.ArgError. A CPU whose owner exited without Release is taken back
// while Synchronize waits for it (see the package documentation).
//
// Kernel-stretch flavour: called by an owner inside a kernel stretch, or by
// a handler on its thread, it would wait for its own CPU: it returns an
// error wrapping ctdefer.ErrWouldDeadlock at once. QSBR flavour: called by
// an online reader on its own thread, it takes the reader offline for the
// wait and back online before it returns, as liburcu's synchronize_rcu
// does, so the caller must hold no reference across the call (Wait and
// Barrier do the same). Memb flavour: called inside the caller's own
// read-side section it would wait for itself: with Options.Debug (in the
// builds that check) it returns an error wrapping ctdefer.ErrWouldDeadlock;
// otherwise it logs the stalled readers after ten seconds and waits for
// its context.
func (g *Domain) Synchronize(ctx context.Context) error {
	switch {
	case g.s != nil:
		return g.s.Synchronize(ctx)
	case g.q != nil:
		return g.q.Synchronize(ctx)
	}
	return g.m.Synchronize(ctx)
}

// Wait blocks until the grace period of t is over, driving the engine, or
// until ctx ends (then a *StallError, as Synchronize). A nil ctx is refused
// with an *ctdefer.ArgError. Kernel-stretch flavour: called by an owner
// inside a kernel stretch, it returns an error wrapping
// ctdefer.ErrWouldDeadlock as soon as the grace period of t needs the
// caller's CPU (it has not begun, or it holds the CPU); one that began
// while the CPU was in user mode is waited for.
func (g *Domain) Wait(ctx context.Context, t Token) error {
	switch {
	case g.s != nil:
		return g.s.Wait(ctx, t)
	case g.q != nil:
		return g.q.Wait(ctx, t)
	}
	return g.m.Wait(ctx, t)
}

// rec is g's reclaimer.
func (g *Domain) rec() *reclaimer {
	switch {
	case g.s != nil:
		return &g.s.rec
	case g.q != nil:
		return &g.q.rec
	}
	return &g.m.rec
}

// Retire arranges for fn to run after a grace period that begins after
// Retire returns (call_rcu): when no reader can still hold what the caller
// unpublished before calling it. Functions run in Retire order, on one
// reclaimer goroutine; they must not block for long or panic.
//
// If Options.MaxPending callbacks are pending, Retire blocks until the
// reclaimer has run a batch: it then takes a grace period to return (the
// reclaimer's wait takes back the CPUs of owners that exited without
// Release, so a dead owner does not block it for good). So a reader must
// not call it inside its read-side section (an owner of a CPU inside a
// kernel stretch, an online QSBR reader): that grace period waits for the
// caller. Use TryRetire there. A retired function may itself call Retire:
// on the reclaimer goroutine, Retire never blocks, and admits fn past the
// bound (the reclaimer is the one that would make room). A function that
// hands fn to another goroutine and waits for that goroutine's Retire would
// deadlock at the bound. After Close it returns an error wrapping
// ctdefer.ErrClosed and fn is not run (also when a retired function calls
// it during Close's drain). A nil fn is refused with an *ctdefer.ArgError
// (ctdefer.ErrInvalid).
func (g *Domain) Retire(fn func()) error { return g.rec().retire(fn, true) }

// TryRetire is Retire that never blocks: at the bound it returns an error
// wrapping ErrBacklog, and fn is not retired.
func (g *Domain) TryRetire(fn func()) error { return g.rec().retire(fn, false) }

// Barrier waits until every function retired before the call has run
// (rcu_barrier). If ctx ends first it returns a *StallError naming the CPUs
// the reclaimer's grace period waits for. After a Close whose context ended,
// it returns Close's error. Called from a retired function (which would wait
// for itself), it returns an error wrapping ctdefer.ErrWouldDeadlock. A nil
// ctx is refused with an *ctdefer.ArgError. Kernel-stretch flavour: called
// by an owner inside a kernel stretch while the grace period it waits for
// needs the caller's CPU, it returns an error wrapping
// ctdefer.ErrWouldDeadlock. QSBR flavour: called by an online reader on its
// own thread, it takes the reader offline for the wait, as Synchronize does.
func (g *Domain) Barrier(ctx context.Context) error {
	switch {
	case g.s != nil:
		return g.s.rec.barrier(ctx)
	case g.q != nil:
		return g.q.Barrier(ctx)
	}
	return g.m.Barrier(ctx)
}

// Close refuses new Retires (ctdefer.ErrClosed), runs every function already
// retired after its grace period, and stops the reclaimer goroutine. If ctx
// ends first, the functions not yet run are dropped (never run: safe, as
// running one early would not be), and Close returns an error counting them
// and wrapping the *StallError that names the CPUs holding the grace period
// up. Blocked Retire calls return ctdefer.ErrClosed. Synchronize, Start,
// Poll and ExpeditedBarrier keep working after Close. A second Close
// returns an error wrapping ctdefer.ErrClosed.
//
// Close the grace Domain before the ctdefer.Domain, while the owners still
// run (and, in the QSBR flavour, the readers still report): a grace period
// needs them. Called from a retired function (which would wait for itself),
// it returns an error wrapping ctdefer.ErrWouldDeadlock and closes nothing;
// so does a nil ctx, with an *ctdefer.ArgError. When ctx ends, Close returns
// within about a millisecond, whatever Options.SpinWait is.
func (g *Domain) Close(ctx context.Context) error {
	switch {
	case g.s != nil:
		return g.s.rec.close(ctx)
	case g.q != nil:
		return g.q.Close(ctx)
	}
	return g.m.Close(ctx)
}

// Stats returns the Domain's counters. Each field says which flavour
// counts it; the other flavour's stay zero.
func (g *Domain) Stats() Stats {
	switch {
	case g.s != nil:
		return g.s.Stats()
	case g.q != nil:
		return g.q.Stats()
	}
	return g.m.Stats()
}

// Reader (QSBR flavour only) registers c's owner as a reader and returns
// its Reader, online: from now on the owner may hold references anywhere
// until its next report. Call it on the owner's thread, after Claim, once
// per claim (again after a new Claim of the CPU); it takes the place of the
// previous owner's Reader. A nil c, one of another ctdefer.Domain, one
// already released, or a kernel-stretch Domain is a misuse: it panics with
// a *ctdefer.MisuseError naming the CPU.
//
// The reader belongs to c's claim. Call Offline before c.Release: a reader
// left online when its CPU is released and claimed by an owner that does
// not register one is no longer waited for (its owner has gone; grace
// periods log it, Options.Logger).
func (g *Domain) Reader(c *ctdefer.CPU) *Reader {
	if g.q == nil {
		cpu := -1
		if c != nil {
			cpu = c.CPU()
		}
		g.wrongFlavour("Reader", cpu, "the QSBR flavour (grace.NewQSBR)")
	}
	return g.q.Reader(c)
}

// Checkpoint (kernel-stretch flavour only) is the owner's report point, for
// long kernel stretches: the owner of c holds no reference to anything a
// grace period protects here. It handles pending IPIs (c.Poll), and if a
// grace period has nudged this CPU, reports a quiescent state (one atomic
// add on the CPU's word), counted in Stats.Reports. In user mode the CPU is quiescent by its state,
// which the grace period's scan sees without a report: Checkpoint then only
// clears the request. Otherwise it costs two loads of lines that other CPUs
// write only when they need this one (the mailbox, the asked flag). Owner
// only, in any mode. A nil c, one of another ctdefer.Domain, or a QSBR
// Domain is a misuse: it panics with a *ctdefer.MisuseError.
// Checkpoint spares that add, and the line traffic it causes, until a
// grace period needs it.
func (g *Domain) Checkpoint(c *ctdefer.CPU) {
	if g.s == nil {
		cpu := -1
		if c != nil {
			cpu = c.CPU()
		}
		g.wrongFlavour("Checkpoint", cpu, "the kernel-stretch flavour (grace.New)")
	}
	g.s.Checkpoint(c)
}

// ExpeditedBarrier (kernel-stretch flavour only) returns once every CPU of
// the Domain that is in the kernel when it is called has executed a poll
// point (Poll, Checkpoint, KernelEnter, UserEnter, the return from Idle)
// or a transition since, or has been released; CPUs in user mode or idle
// are skipped, without IPI. A handler running on behalf of a parked CPU
// counts as that CPU being in the kernel. With every CPU in user mode or
// idle it costs two loads per CPU and one atomic add (docs/design/grace.md,
// The expedited barrier, says what is ordered).
//
// While the ctdefer.Domain is closing no IPI can be posted; a CPU still in
// its kernel stretch is then waited for until its next transition or its
// Release. If ctx ends first it returns a *StallError naming the CPUs it
// still waits for (StalledCPU.Nudged: whether an IPI was posted to it),
// within about a millisecond of ctx's end. A nil ctx is refused with an
// *ctdefer.ArgError. Called by an owner inside a kernel stretch (or a
// handler on its thread), it would wait for its own CPU: it returns an
// error wrapping ctdefer.ErrWouldDeadlock at once. A CPU whose owner exited
// without Release is taken back while the barrier waits for it.
//
// The QSBR flavour has no poll points to reach: a QSBR Domain panics with
// a *ctdefer.MisuseError (use Synchronize).
func (g *Domain) ExpeditedBarrier(ctx context.Context) error {
	if g.s == nil {
		g.wrongFlavour("ExpeditedBarrier", -1, "the kernel-stretch flavour (grace.New)")
	}
	return g.s.ExpeditedBarrier(ctx)
}

// debug reports whether g was created with Options.Debug.
func (g *Domain) debug() bool {
	switch {
	case g.s != nil:
		return g.s.debug
	case g.q != nil:
		return g.q.debug
	}
	return g.m.debug
}

// Register (memb flavour only) registers a reader and returns its Handle,
// outside any read-side section. Any goroutine may call it, at any time,
// concurrently with grace periods; the Handle remembers where it was
// registered (file:line) for the diagnostics of a reader that never
// unlocks. After Close it returns an error wrapping ctdefer.ErrClosed. On a
// Domain of another flavour it panics with a *ctdefer.MisuseError.
func (g *Domain) Register() (*Handle, error) {
	if g.m == nil {
		g.wrongFlavour("Register", -1, "the memb flavour (grace.NewMemb)")
	}
	site := "unknown"
	if _, file, line, ok := runtime.Caller(1); ok {
		site = file + ":" + strconv.Itoa(line)
	}
	return g.m.register(site)
}
