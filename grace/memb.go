package grace

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"
	"unsafe"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/membarrier"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// The memb flavour (liburcu's urcu-memb, for goroutines): readers are
// Handles, used by any goroutine, with no thread or CPU pinned.
//
// The words:
//   - gp: the number of grace periods started, k; word: k<<snapShift | 1,
//     what an outermost Lock stores (both stored by the driver);
//   - done: the number completed;
//   - ctr: one per reader (see the layout below), written by the Handle's
//     goroutine with a plain store where membarrier(2) is available.
//
// A grace period k: store gp and word, membarrier, scan every reader until
// none holds k, membarrier, store done. Readers write nothing for writers:
// a waiter spins, then polls with a sleep that doubles up to a
// millisecond.
//
// The protocol and its invariants (a section that began before a grace
// period holds it; membarrier stands in for the reader's fence; lost
// handles hold on), and why the Go compiler keeps the reader's program
// order: docs/design/grace.md, "The memb flavour".

// memb is the memb flavour's engine, behind a Domain made by NewMemb.
type memb struct {
	_ percpu.NoCopy

	// The engine's words, one line each.
	membGP
	_        [(percpu.CacheLine - unsafe.Sizeof(membGP{})%percpu.CacheLine) % percpu.CacheLine]byte
	qsbrDone // done: grace periods completed
	_        [(percpu.CacheLine - unsafe.Sizeof(qsbrDone{})%percpu.CacheLine) % percpu.CacheLine]byte
	qsbrDrive
	_ [(percpu.CacheLine - unsafe.Sizeof(qsbrDrive{})%percpu.CacheLine) % percpu.CacheLine]byte
	membRegistry
	_ [(percpu.CacheLine - unsafe.Sizeof(membRegistry{})%percpu.CacheLine) % percpu.CacheLine]byte

	// Read-only after NewMemb.
	fenced bool // no membarrier: the read side fences (liburcu's mb flavour)
	spin   time.Duration
	debug  bool
	log    *slog.Logger

	rec reclaimer
}

type membGP struct {
	gp   atomicx.Uint64    // grace periods started: stored by the driver
	word atomicx.OwnerWord // gp<<snapShift | 1: stored by the driver (its owner), loaded by every outermost Lock
}

type membRegistry struct {
	barriers atomicx.Uint64 // statistics: membarrier calls
	sleeps   atomicx.Uint64 // statistics: sleeps of the full millisecond by waiters
	// mu guards readers and closed: Register, Unregister, the scans and
	// the diagnostics take it; a waiter never sleeps holding it.
	mu      atomicx.Mutex
	readers []*membReader
	closed  bool
}

// A reader's word (membReader.ctr):
//
//	bit  63 ........ 24   23     22     21     20 ........ 0
//	     snapshot          dead   debug  fence  nest
//
// snapshot is the low 40 bits of the grace-period count loaded at the
// outermost Lock, nest the section depth; the flags send Lock and Unlock
// off their fast paths: fence (no membarrier: the read side fences), debug
// (Options.Debug, in the builds that check it), dead (unregistered). An
// outermost Lock stores the driver's word as it is (snapshot, nest 1) or'ed
// with the flags. A reader holds grace period k up iff its nest is not 0
// and its snapshot is not k modulo 2^40 (holds): while a reader is inside a
// section no grace period after the next can start, so its snapshot is k-1
// or k; one 2^40 grace periods stale would need a goroutine preempted
// between the load and the store of its Lock for that many grace periods,
// each of which makes two membarrier calls.
const (
	snapShift         = 24
	nestMask   uint64 = 1<<21 - 1
	flagFence  uint64 = 1 << 21
	flagDebug  uint64 = 1 << 22
	flagDead   uint64 = 1 << 23
	flagMask          = flagFence | flagDebug | flagDead
	lowMask    uint64 = 1<<snapShift - 1
	snapMask40 uint64 = 1<<40 - 1
)

// Compile-time checks of the layout: nest, the flags and the snapshot
// fill the word, and do not overlap.
var (
	_ [0]struct{} = [nestMask & flagMask]struct{}{}
	_ [0]struct{} = [lowMask ^ (nestMask | flagMask)]struct{}{}
	_ [0]struct{} = [64 - snapShift - 40]struct{}{}
)

// holds reports whether a reader whose word is c holds grace period k up
// (a section that began before a grace period holds it).
func holds(c, k uint64) bool {
	return c&nestMask != 0 && (c>>snapShift)&snapMask40 != k&snapMask40
}

// membReader is a Handle's state, which the registry holds (never the
// Handle itself, so that a dropped Handle can be collected and reported).
// One line: the Handle's goroutine writes ctr at every Lock and Unlock,
// and the driver reads it.
type membReader struct {
	// The padding comes first: a trailing zero-size field (the line
	// exactly full, as on 64-bit) would make the compiler pad the struct
	// past the line.
	_ [(percpu.CacheLine - unsafe.Sizeof(membReaderLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	membReaderLine
}

type membReaderLine struct {
	// ctr is the reader's word (see the layout): written by the Handle's
	// goroutine (a plain store, with membarrier), loaded by drivers.
	ctr atomicx.OwnerWord
	// owner is, with Debug in a checked build, the id of the goroutine
	// inside the outermost section (0: none): written by that goroutine,
	// loaded by waits that look for their caller.
	owner atomicx.Uint64
	// dropped is 1 once the Handle was collected inside a section: written
	// by the cleanup, loaded by diagnostics.
	dropped atomicx.Uint32
	// Read-only after Register.
	word *atomicx.OwnerWord // &m.word: Lock's one load
	m    *memb
	site string // where the Handle was registered: file:line
	// idx is the reader's position in readers, under mu.
	idx int
}

// Handle is a reader of a memb-flavour Domain (NewMemb), for one goroutine
// at a time: Lock and Unlock bracket a read-side section, in which the
// goroutine may load published pointers and use the objects they point to
// (rcu_read_lock, rcu_read_unlock). Sections nest. The goroutine may block,
// sleep or move to another thread inside a section (grace periods wait for
// it meanwhile). A Handle may pass from one goroutine to another between
// sections, with the synchronisation that hands over any value.
//
// Get one with Domain.Register, and give it back with Unregister when the
// goroutine stops reading. A Handle dropped without Unregister is
// unregistered when the garbage collector finds it unreachable, and
// logged (Warn); a Handle dropped inside a section holds every later grace
// period up for good (the goroutine that dropped it may still use what it
// loaded), is logged (Error) and is named in every StallError. A Handle
// must not be copied.
type Handle struct {
	r       *membReader
	cleanup runtime.Cleanup
}

// NewMemb creates a Domain of the memb flavour: readers are goroutines
// that bracket their reads with a Handle's Lock and Unlock, with no
// ctdefer.Domain and no pinning. Where the kernel offers
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (Linux 4.14 and later, not
// refused by a sandbox), NewMemb registers the process for it once; Lock
// and Unlock are then a few plain loads and one plain store each, with no
// fence and no locked instruction, and each grace period makes two
// membarrier calls. Elsewhere the read side fences (an atomic store at the
// outermost Lock and Unlock, liburcu's mb flavour): Stats.Membarrier says
// which. Options that set NudgeAfter (the kernel-stretch flavour's) give
// an *ctdefer.ArgError.
func NewMemb(opts Options) (*Domain, error) {
	if opts.NudgeAfter != 0 {
		return nil, &ctdefer.ArgError{Call: "grace.NewMemb", Arg: "opts.NudgeAfter", Value: opts.NudgeAfter,
			Reason: "applies only to the kernel-stretch flavour (grace.New): memb readers are never nudged"}
	}
	return &Domain{m: newMemb(opts, true)}, nil
}

// newMemb builds the engine; with useMembarrier false (or where
// membarrier is missing, or under the explorer, whose atomics are all
// sequentially consistent) the read side fences.
func newMemb(opts Options, useMembarrier bool) *memb {
	m := &memb{spin: opts.SpinWait, debug: opts.Debug, log: opts.Logger, fenced: true}
	if m.spin == 0 {
		m.spin = defaultSpinWait
	}
	if useMembarrier && !atomicx.Instrumented {
		err := membarrier.RegisterPrivateExpedited()
		m.fenced = err != nil
		if err != nil && m.log != nil {
			m.log.Info("grace: memb flavour: membarrier unavailable, the read side fences (liburcu's mb flavour)", "err", err)
		}
	}
	m.word.StoreFence(1) // store: grace period 0, nest 1; before the Domain is shared
	m.rec.init(m, opts.MaxPending)
	return m
}

// register adds a reader registered at site.
func (m *memb) register(site string) (*Handle, error) {
	r := &membReader{}
	r.word, r.m, r.site = &m.word, m, site
	var flags uint64
	if m.fenced {
		flags |= flagFence
	}
	if m.debug && checkLoads {
		flags |= flagDebug
	}
	r.ctr.StoreFence(flags) // store: before the registry publishes r
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("grace: Domain.Register: %w", ctdefer.ErrClosed)
	}
	r.idx = len(m.readers)
	m.readers = append(m.readers, r)
	m.mu.Unlock()
	h := &Handle{r: r}
	h.cleanup = runtime.AddCleanup(h, (*membReader).collected, r)
	return h, nil
}

// remove takes r out of the registry.
func (m *memb) remove(r *membReader) {
	m.mu.Lock()
	last := len(m.readers) - 1
	m.readers[r.idx] = m.readers[last]
	m.readers[r.idx].idx = r.idx
	m.readers[last] = nil
	m.readers = m.readers[:last]
	m.mu.Unlock()
}

// Unregister gives the Handle back: grace periods stop looking at it, and
// every later use of it panics with a *ctdefer.MisuseError. It must be
// called outside a read-side section (inside one it panics, and the Handle
// stays registered). The goroutine holding the Handle may call it at any
// time, concurrently with grace periods.
func (h *Handle) Unregister() {
	r := h.r
	c := r.ctr.OwnerLoad()
	if c&flagDead != 0 {
		misuse("Handle.Unregister", -1, "unregistered", "Unregister twice (registered at "+r.site+")")
	}
	if c&nestMask != 0 {
		misuse("Handle.Unregister", -1, "locked", "Unregister inside a read-side section (registered at "+r.site+")")
	}
	r.ctr.Store(c | flagDead) // store: owner only; outside a section either way
	h.cleanup.Stop()
	r.m.remove(r)
}

// collected is the cleanup of a Handle that became unreachable without
// Unregister (a lost reader). Outside a section it holds nothing: it is
// unregistered. Inside one it is kept: the goroutine that dropped it may
// still use what it loaded, so no grace period may end without it; it is
// marked, logged, and named in every StallError from then on.
func (r *membReader) collected() {
	m := r.m
	// load (Peek: atomic, never a scheduling point of the explorer): the
	// Handle is unreachable, so no goroutine runs its methods any more.
	if r.ctr.Peek()&nestMask != 0 {
		r.dropped.Store(1) // store: diagnostics
		if m.log != nil {
			m.log.Error("grace: memb Handle dropped inside a read-side section (no Unlock): "+
				"every later grace period waits for it for good", "registered_at", r.site)
		}
		return
	}
	m.remove(r)
	if m.log != nil {
		m.log.Warn("grace: memb Handle dropped without Unregister: unregistered", "registered_at", r.site)
	}
}

// barrier is the driver's membarrier (liburcu's smp_mb_master): it orders
// every reader's plain stores of ctr, and the accesses on either side of
// them, against the driver's accesses on either side of it (membarrier
// stands in for the reader's fence). Fenced readers need none.
func (m *memb) barrier() {
	if m.fenced {
		return
	}
	m.barriers.Inc() // statistics only
	if err := membarrier.PrivateExpedited(); err != nil {
		// The process registered at NewMemb, and registration is
		// permanent: the kernel broke its contract, and the readers'
		// plain stores are unordered. Going on could free memory a reader
		// still uses.
		panic(fmt.Sprintf("grace: memb flavour: membarrier failed after registration: %v", err))
	}
}

// Start implements Domain.Start.
func (m *memb) Start() Token {
	// load: a grace period numbered above the count started so far begins
	// after this load (pairs with the driver's start store).
	t := Token{m.gp.Load() + 1}
	m.advance(t)
	return t
}

// Completed reports whether the grace period of t is over, without driving
// anything: one load (Domain.Poll's first step).
func (m *memb) Completed(t Token) bool {
	return m.done.Load() >= t.seq // load: pairs with the driver's end store
}

// Poll implements Domain.Poll.
func (m *memb) Poll(t Token) bool {
	if m.Completed(t) {
		return true
	}
	m.advance(t)
	return m.Completed(t)
}

// advance drives the engine toward t, if no other goroutine drives it:
// start (store gp and word, membarrier), scan, end (membarrier, store
// done).
func (m *memb) advance(t Token) {
	if !m.drive.TryLock() {
		return
	}
	for {
		k := m.gp.Load()        // load: only the holder of drive stores gp and done
		if m.done.Load() == k { // load: as gp's; equal means no grace period in progress
			if k >= t.seq {
				break
			}
			k++
			m.gp.Store(k) // store: the start, for Start's tokens
			// store: the start, for the readers: an outermost Lock that
			// loads it is not waited for (a section that began before a
			// grace period holds it). Sequentially consistent: after the
			// updater's unpublishing, before the scan's loads.
			m.word.StoreFence(k<<snapShift | 1)
			// membarrier: a reader whose ctr store the scan cannot see yet
			// fences after it, so its reads see what the updater
			// unpublished before Start (membarrier stands in for the
			// reader's fence).
			m.barrier()
		}
		if !m.scan(k) {
			break
		}
		// membarrier: every reader that the scan saw outside its section
		// has completed the section's reads before the end store, and so
		// before any reclamation (membarrier stands in for the reader's
		// fence).
		m.barrier()
		m.done.Store(k) // store: the end; pairs with Completed's load
	}
	m.drive.Unlock()
}

// scan reports whether no reader holds grace period k (a section that
// began before a grace period holds it).
// A registration in progress makes it report false at once: Poll never
// blocks, and the next poll scans again.
func (m *memb) scan(k uint64) bool {
	if !m.mu.TryLock() {
		return false
	}
	defer m.mu.Unlock()
	for _, r := range m.readers {
		if holds(r.ctr.Load(), k) { // load: pairs with the owner's stores in Lock and Unlock
			return false
		}
	}
	return true
}

// Synchronize implements Domain.Synchronize.
func (m *memb) Synchronize(ctx context.Context) error {
	return waitOn(m, ctx, "Synchronize", m.Start())
}

// Wait implements Domain.Wait.
func (m *memb) Wait(ctx context.Context, t Token) error {
	return waitOn(m, ctx, "Wait", t)
}

// stallWarnAfter is how long a memb wait waits before it logs the readers
// that hold it up (Warn): a section that never ends (a Synchronize inside
// the caller's own section, without Debug; a Handle dropped inside one)
// is never silent. (A variable only so that tests can shorten it.)
var stallWarnAfter = 10 * time.Second

// waitFor implements engine: spin, then poll with a sleep that doubles up
// to a millisecond (percpu.Waiter). Readers write nothing for writers, so
// nothing wakes a waiter: it sees a reader's Unlock within a millisecond.
func (m *memb) waitFor(ctx context.Context, t Token) error {
	if err := m.selfWait(); err != nil {
		return err
	}
	start := time.Now()
	warned := false
	return percpu.Waiter{Spin: m.spin, Yield: true, LongSleep: func(int) bool {
		m.sleeps.Inc() // statistics only
		if !warned && time.Since(start) >= stallWarnAfter {
			warned = true
			m.warnStall(time.Since(start))
		}
		return false
	}}.Until(ctx, func() bool { return m.Poll(t) })
}

// warnStall logs a wait that has waited long, with the readers holding it.
func (m *memb) warnStall(waited time.Duration) {
	if m.log != nil {
		m.log.Warn("grace: memb grace period still waiting for readers inside read-side sections "+
			"(a Synchronize, Wait or Barrier inside the caller's own section waits for itself)",
			"waited", waited, "err", m.stallError("wait", waited, context.DeadlineExceeded))
	}
}

// selfWait is Debug's check of a wait's caller, in the builds that check
// (race-detector builds, ctdefer_debug): inside a read-side section of its
// own, a wait for a grace period would wait for itself. Elsewhere it is
// not checked, and the wait's stall warning names the reader.
func (m *memb) selfWait() error {
	if !m.debug || !checkLoads {
		return nil
	}
	id := goid()
	if id == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.readers {
		if r.owner.Load() == id { // load: pairs with the checked Lock's store
			return fmt.Errorf("called inside a read-side section of the calling goroutine (Handle registered at %s), "+
				"which the wait would wait for (Unlock first): %w", r.site, ctdefer.ErrWouldDeadlock)
		}
	}
	return nil
}

// Barrier implements Domain.Barrier: with Debug, a caller inside its own
// read-side section is refused first.
func (m *memb) Barrier(ctx context.Context) error {
	if ctx != nil {
		if err := m.selfWait(); err != nil {
			return fmt.Errorf("grace: Barrier: %w", err)
		}
	}
	return m.rec.barrier(ctx)
}

// Close implements Domain.Close: Register fails after it.
func (m *memb) Close(ctx context.Context) error {
	if ctx != nil {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}
	return m.rec.close(ctx)
}

// logger implements engine.
func (m *memb) logger() *slog.Logger { return m.log }

// stallError implements engine: the readers holding the grace period in
// progress up, each named by its registration site.
func (m *memb) stallError(op string, waited time.Duration, err error) error {
	e := &StallError{Op: op, Waited: waited, Err: err}
	k := m.gp.Load()        // load: diagnostics; the grace period in progress, if any
	if m.done.Load() == k { // load: diagnostics
		return e
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.readers {
		c := r.ctr.Load() // load: diagnostics
		if !holds(c, k) {
			continue
		}
		e.CPUs = append(e.CPUs, StalledCPU{CPU: -1, Reader: true, LastReport: (c >> snapShift) & snapMask40, GracePeriod: k,
			Site: r.site, Dropped: r.dropped.Load() != 0}) // load (dropped): diagnostics; the cleanup's store
	}
	return e
}

// Stats implements Domain.Stats.
func (m *memb) Stats() Stats {
	st := Stats{GracePeriods: m.done.Load(), Started: m.gp.Load(), Sleeps: m.sleeps.Load(),
		Membarrier: !m.fenced, Membarriers: m.barriers.Load()} // loads: statistics
	m.mu.Lock()
	st.Readers = uint64(len(m.readers))
	m.mu.Unlock()
	st.Retired, st.Reclaimed = m.rec.counts()
	st.Pending = st.Retired - st.Reclaimed
	return st
}
