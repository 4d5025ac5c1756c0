package ctdefer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.uber.org/atomic"

	"github.com/ctdefer/ctdefer/ctseq"
)

// MaxCPU is the largest CPU number a Domain accepts. Linux supports at most
// 8192 CPUs; larger numbers are refused with ErrBadCPU rather than truncated.
const MaxCPU = 1<<16 - 1

// Domain is a set of per-CPU contexts sharing one registry of work kinds.
// Create it with New; it is safe for concurrent use. A Domain must not be
// copied.
//
// The life of a Domain: Register the work kinds, then each worker goroutine
// Claims its CPU and runs its loop with the returned *CPU, while any
// goroutine delivers work with Defer or DeferWait. Close refuses new work,
// waits for every worker to Release, and hands back what could not be run.
type Domain struct {
	_     noCopy
	opts  Options
	epoch time.Time

	slots []slot  // one per CPU of the domain, in the order of cpus
	index []int32 // CPU number -> index in slots, -1 if absent
	cpus  []int

	closed atomic.Bool

	mu       sync.Mutex // guards works, sealed, claim bookkeeping
	works    []*workInfo
	sealed   bool         // registration closed (first Claim happened)
	all      ctseq.Work   // every registered bit
	claimers atomic.Int32 // claimed CPUs; Close waits for zero
}

// workInfo is one registered kind of work.
type workInfo struct {
	name       string
	bit        ctseq.Bit
	handler    Handler
	remoteSafe bool
}

// Handler is the code run for a work kind, with the number of the CPU it is
// run for. It runs on that CPU's owner thread in kernel mode (at a kernel
// entry or poll point), except for RemoteSafe work run on behalf of a parked
// CPU. It must not block and must not call owner methods.
type Handler func(cpu int)

// Work identifies a registered kind of work. The zero Work is invalid.
type Work struct {
	d    *Domain
	info *workInfo
}

// Name returns the name given to Register.
func (w Work) Name() string {
	if w.info == nil {
		return "<invalid>"
	}
	return w.info.name
}

// String returns the work's name.
func (w Work) String() string { return w.Name() }

// New creates a Domain over the CPUs in opts.CPUs (default: the process's
// allowed set). It fails with ErrBadCPU for a negative, duplicate or too
// large CPU number, ErrCPUNotAllowed for a CPU outside the allowed set, and
// ErrNotSupported when pinning is requested on a platform without it.
func New(opts Options) (*Domain, error) {
	if opts.IPITimeout <= 0 {
		opts.IPITimeout = defaultIPITimeout
	}
	if opts.SpinWait == 0 {
		opts.SpinWait = defaultSpinWait
	}
	cpus := slices.Clone(opts.CPUs)
	var allowed []int
	if !opts.Unpinned {
		var err error
		if allowed, err = allowedCPUs(); err != nil {
			return nil, err
		}
	}
	if cpus == nil {
		if opts.Unpinned {
			for i := range runtime.NumCPU() {
				cpus = append(cpus, i)
			}
		} else {
			cpus = allowed
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("ctdefer: New: empty CPU list: %w", ErrBadCPU)
	}
	maxCPU := 0
	for i, c := range cpus {
		if c < 0 || c > MaxCPU {
			return nil, fmt.Errorf("ctdefer: New: CPU %d out of range [0, %d]: %w", c, MaxCPU, ErrBadCPU)
		}
		if slices.Contains(cpus[:i], c) {
			return nil, fmt.Errorf("ctdefer: New: CPU %d listed twice: %w", c, ErrBadCPU)
		}
		if allowed != nil && !slices.Contains(allowed, c) {
			return nil, fmt.Errorf("ctdefer: New: CPU %d (allowed: %v): %w", c, allowed, ErrCPUNotAllowed)
		}
		maxCPU = max(maxCPU, c)
	}
	d := &Domain{
		opts:  opts,
		epoch: time.Now(),
		slots: make([]slot, len(cpus)),
		index: make([]int32, maxCPU+1),
		cpus:  cpus,
	}
	for i := range d.index {
		d.index[i] = -1
	}
	for i, c := range cpus {
		d.index[c] = int32(i)
		d.slots[i].cpu = c
		d.slots[i].initPark()
	}
	return d, nil
}

// CPUs returns the CPU numbers of the domain.
func (d *Domain) CPUs() []int { return slices.Clone(d.cpus) }

// Register adds a kind of work and returns its handle. Register may be called
// only before the first Claim. It fails with ErrNilHandler, ErrTooManyWorks
// (more than ctseq.WorkBits kinds), ErrRegistrationClosed or ErrClosed.
func (d *Domain) Register(name string, h Handler, opts ...RegisterOption) (Work, error) {
	if h == nil {
		return Work{}, fmt.Errorf("ctdefer: Register(%q): %w", name, ErrNilHandler)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed.Load():
		return Work{}, fmt.Errorf("ctdefer: Register(%q): %w", name, ErrClosed)
	case d.sealed:
		return Work{}, fmt.Errorf("ctdefer: Register(%q): %w", name, ErrRegistrationClosed)
	case len(d.works) >= ctseq.WorkBits:
		return Work{}, fmt.Errorf("ctdefer: Register(%q): %d works already registered (max %d): %w",
			name, len(d.works), ctseq.WorkBits, ErrTooManyWorks)
	}
	info := &workInfo{name: name, bit: ctseq.Bit(len(d.works)), handler: h}
	for _, o := range opts {
		o(info)
	}
	d.works = append(d.works, info)
	d.all |= ctseq.Of(info.bit)
	return Work{d: d, info: info}, nil
}

// seal closes registration and builds every slot's handler table. Called
// with d.mu held, at the first Claim.
func (d *Domain) seal() {
	if d.sealed {
		return
	}
	d.sealed = true
	for i := range d.slots {
		s := &d.slots[i]
		for _, w := range d.works {
			s.table.Set(w.bit, d.tableEntry(s, w))
		}
	}
}

// tableEntry wraps a handler for one CPU: it passes the CPU number and, in
// debug mode, takes the bit out of the danger zone once the handler has run.
func (d *Domain) tableEntry(s *slot, w *workInfo) ctseq.Handler {
	h, cpu := w.handler, s.cpu
	if !d.opts.Debug {
		return func() { h(cpu) }
	}
	mask := ^uint32(ctseq.Of(w.bit))
	return func() {
		h(cpu)
		// load+store: only the owner writes danger; atomic for AssertFlushed readers.
		s.danger.Store(s.danger.Load() & mask)
	}
}

// slotOf returns the slot of cpu.
func (d *Domain) slotOf(cpu int) (*slot, error) {
	if uint(cpu) >= uint(len(d.index)) || d.index[cpu] < 0 {
		return nil, fmt.Errorf("ctdefer: CPU %d (domain: %v): %w", cpu, d.cpus, ErrBadCPU)
	}
	return &d.slots[d.index[cpu]], nil
}

// Stats returns the statistics of one CPU.
func (d *Domain) Stats(cpu int) (Stats, error) {
	s, err := d.slotOf(cpu)
	if err != nil {
		return Stats{}, err
	}
	return s.stats(), nil
}

// TotalStats returns the statistics summed over every CPU.
func (d *Domain) TotalStats() Stats {
	var t Stats
	for i := range d.slots {
		t.add(d.slots[i].stats())
	}
	return t
}

// Closed reports whether Close has been called.
func (d *Domain) Closed() bool { return d.closed.Load() } // load: pairs with Close's store

// Close refuses new work (Defer and Claim return ErrClosed), wakes every
// parked CPU (its Idle returns ErrClosed), and waits until every claimed CPU
// has been released; each owner runs its pending work when it releases.
// Then it closes the mailboxes of all CPUs. IPIs that were posted to a CPU
// no worker had claimed are run on its behalf if their work is RemoteSafe;
// the others are handed back in an *UndeliveredError (such handlers run on
// the goroutine calling Close, for CPUs no worker holds: they are not
// read-side critical sections of package grace, which does not wait for
// unclaimed CPUs). If ctx ends before
// every CPU is released, Close returns an error naming them, wrapping
// ctx.Err(); their pending work stays with their owners, who run it when they
// release. A second Close returns ErrClosed.
func (d *Domain) Close(ctx context.Context) error {
	// Under mu, so that no Claim is between its closed check and its
	// claimers increment while Close starts waiting.
	d.mu.Lock()
	if d.closed.Load() { // load under mu
		d.mu.Unlock()
		return fmt.Errorf("ctdefer: Close: %w", ErrClosed)
	}
	d.closed.Store(true) // store: new deliveries and claims see it (pairs with their loads)
	d.mu.Unlock()
	for i := range d.slots {
		d.slots[i].wakeUp()
	}
	// Wait for the workers to release, polling (no goroutine is left
	// behind if ctx ends first). The claimers load pairs with Release's
	// decrement, which follows its drain of the CPU's pending work.
	for sleep := 10 * time.Microsecond; d.claimers.Load() != 0; sleep = min(2*sleep, 5*time.Millisecond) {
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			var busy []int
			for i := range d.slots {
				if d.slots[i].claimed.Load() { // load: diagnostics
					busy = append(busy, d.slots[i].cpu)
				}
			}
			return fmt.Errorf("ctdefer: Close: CPUs %v still claimed: %w", busy, ctx.Err())
		}
	}
	var undelivered []Pending
	for i := range d.slots {
		s := &d.slots[i]
		work, gen := s.mbox.kill()
		handedBack := false
		for b := range ctseq.WorkBits {
			if !work.Has(ctseq.Bit(b)) {
				continue
			}
			w := d.works[b]
			if w.remoteSafe {
				w.handler(s.cpu)
				s.sstats.onBehalf.Inc()
				continue
			}
			undelivered = append(undelivered, Pending{CPU: s.cpu, Work: Work{d: d, info: w}})
			handedBack = true
		}
		if !handedBack {
			// store: everything this generation held has run; release its
			// waiters. If some work was handed back, the waiters find the
			// mailbox dead and return ErrClosed instead (see wait).
			s.ipiDone.Store(gen)
		}
	}
	if undelivered != nil {
		return &UndeliveredError{Pending: undelivered}
	}
	return nil
}

// Pending is one work delivery that could not be run.
type Pending struct {
	CPU  int
	Work Work
}

// UndeliveredError is returned by Close for IPIs posted to CPUs that no
// worker claimed before Close, whose work is not RemoteSafe. It wraps
// ErrClosed.
type UndeliveredError struct {
	Pending []Pending
}

// Error lists the undelivered work.
func (e *UndeliveredError) Error() string {
	s := "ctdefer: Close: work never delivered:"
	for _, p := range e.Pending {
		s += fmt.Sprintf(" %s@CPU%d", p.Work.Name(), p.CPU)
	}
	return s
}

// Unwrap returns ErrClosed.
func (e *UndeliveredError) Unwrap() error { return ErrClosed }

// noCopy makes go vet's copylocks check report copies.
type noCopy struct{}

// Lock is a no-op that lets go vet's copylocks check see noCopy.
func (*noCopy) Lock() {}

// Unlock is a no-op, see Lock.
func (*noCopy) Unlock() {}

// State returns cpu's current context-tracking state (ctseq.Kernel for a
// CPU nobody has claimed, or for an unknown CPU).
func (d *Domain) State(cpu int) ctseq.State {
	s, err := d.slotOf(cpu)
	if err != nil {
		return ctseq.Kernel
	}
	return s.word.Snapshot().State()
}

// Snapshot returns cpu's context-tracking word, for grace-period detection
// (see QuiescentSince). An unknown CPU gives ErrBadCPU.
func (d *Domain) Snapshot(cpu int) (ctseq.Snapshot, error) {
	s, err := d.slotOf(cpu)
	if err != nil {
		return ctseq.Snapshot{}, err
	}
	return s.word.Snapshot(), nil
}

// QuiescentSince reports whether cpu has passed through a quiescent state
// since snap was taken from it: it was in user mode or idle then, or it has
// made a transition since (or called CPU.Quiesce). See
// ctseq.Word.QuiescentSince. An unknown CPU reports true: nothing runs there.
func (d *Domain) QuiescentSince(cpu int, snap ctseq.Snapshot) bool {
	s, err := d.slotOf(cpu)
	if err != nil {
		return true
	}
	return s.word.QuiescentSince(snap)
}

// Claimed reports whether a worker holds cpu (between Claim and Release).
// An unclaimed CPU runs nothing: grace periods need not wait for it.
func (d *Domain) Claimed(cpu int) bool {
	s, err := d.slotOf(cpu)
	if err != nil {
		return false
	}
	return s.claimed.Load() // load: pairs with the CAS in Claim and the store in Release
}
