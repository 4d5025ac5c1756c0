package ctdefer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/tracex"
)

// Domain is a set of per-CPU contexts sharing one registry of work kinds.
// Create it with New; it is safe for concurrent use. A Domain must not be
// copied.
//
// The life of a Domain: Register the work kinds, then each worker goroutine
// Claims its CPU and runs its loop with the returned *CPU, while any
// goroutine delivers work with Defer or DeferWait. Close refuses new work,
// waits for every worker to Release, and hands back what could not be run.
type Domain struct {
	_     percpu.NoCopy
	opts  Options
	epoch time.Time

	slots []slot       // one per CPU of the domain, in the order of cpus
	cpus  percpu.Index // the CPU numbers, and their positions in slots

	closed atomicx.Bool

	mu       atomicx.Mutex // guards works, sealed, claim bookkeeping
	works    []*workInfo
	sealed   bool          // registration closed (first Claim happened)
	all      ctseq.Work    // every registered bit
	claimers atomicx.Int32 // claimed CPUs; Close waits for zero

	worksPub atomicx.Pointer[[]*workInfo] // works, for Stats: stored under mu, loaded without it (stats.go)

	closeMu   atomicx.Mutex // one Close at a time (TryLock: a nested Close returns at once)
	closeDone bool          // guarded by closeMu: Close has finished its job

	hand handLog // the deliveries handed back instead of run (run or handed back, never both: delivery.md)

	quiet corelink.Watchers // called when a CPU parks or is released (grace's sleeping waiters)

	view *corelink.View[CPU] // what grace and lazytlb see (internal/corelink)
}

func init() {
	corelink.ViewOf = func(d any) any { return d.(*Domain).view }
}

// makeView fills d.view: the per-CPU words and flags in place, and the
// slow-path services.
func (d *Domain) makeView() {
	v := &corelink.View[CPU]{Index: d.cpus, CPUs: make([]corelink.CPU, len(d.slots)), Watchers: &d.quiet,
		Holder: d.holder, ReapExited: d.reapExited, CallerCPU: d.callerCPU, Closed: d.closed.Load,
		Owns: func(c *CPU) bool { return c != nil && c.d == d }, Quiesce: (*CPU).quiesce}
	for i := range d.slots {
		v.CPUs[i] = corelink.CPU{Word: &d.slots[i].word, Claimed: &d.slots[i].claimed}
	}
	d.view = v
}

// workInfo is one registered kind of work.
type workInfo struct {
	name       string
	bit        uint8 // the work bit, < ctseq.WorkBits; unsigned, so that shifting by it needs no check
	handler    func(cpu int)
	remoteSafe bool
	queue      valueQueue // the Queue whose ring the handler drains, or nil (queue.go)
}

// Work identifies a registered kind of work. The zero Work is invalid.
type Work struct {
	d    *Domain
	info *workInfo
}

// String returns the name given to Register ("<invalid>" for the zero
// Work).
func (w Work) String() string {
	if w.info == nil {
		return "<invalid>"
	}
	return w.info.name
}

// New creates a Domain over the CPUs in opts.CPUs (default: the process's
// allowed set, host.AllowedCPUs). A bad list gives an *ArgError
// (errors.Is ErrInvalid) naming the CPU: an empty list, a negative or
// duplicate number, one above 65535 (the largest CPU number a Domain
// accepts: Linux supports at most 8192 CPUs), or one outside the allowed
// set (wrapping host.ErrNotAllowed too). It fails with ErrNotSupported when
// pinning is requested on a platform without it.
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
		if allowed, err = host.AllowedCPUs(); err != nil {
			return nil, fmt.Errorf("ctdefer: New: %w (use Options.Unpinned)", err)
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
	var check func(int) error
	if allowed != nil {
		check = func(c int) error {
			if !slices.Contains(allowed, c) {
				return fmt.Errorf("CPU %d (allowed: %s): %w", c, host.FormatCPUList(allowed), host.ErrNotAllowed)
			}
			return nil
		}
	}
	index, err := percpu.NewIndex(cpus, ErrInvalid, check)
	if err != nil {
		return nil, cpuListError("ctdefer.New", "opts.CPUs", cpus, err)
	}
	d := &Domain{
		opts:  opts,
		epoch: time.Now(),
		slots: make([]slot, index.Len()),
		cpus:  index,
	}
	for i, c := range d.cpus.List() {
		d.slots[i].cpu = c
		d.slots[i].initPark()
		d.slots[i].doneSeq.Store(doneNone) // store: before the Domain is shared
	}
	d.makeView()
	return d, nil
}

// registerError is Register's *ArgError.
func registerError(arg string, v any, reason string) error {
	if s, ok := v.(string); ok {
		v = fmt.Sprintf("%q", s)
	}
	return &ArgError{Call: "ctdefer.Domain.Register", Arg: arg, Value: v, Reason: reason}
}

// CPUs returns the CPU numbers of the domain.
func (d *Domain) CPUs() []int { return slices.Clone(d.cpus.List()) }

// Register adds a kind of work and returns its handle. Register may be called
// only before the first Claim. The name identifies the work in errors and
// statistics: it must be non-empty and unique in the Domain.
//
// A Domain holds at most 16 kinds of work (ctseq.WorkBits): one bit each in
// the per-CPU word, which is what makes a deferral one compare-and-swap.
// The 17th Register fails, naming the limit.
//
// The handler h is the code run for the work, with the number of the CPU it
// is run for. It runs on that CPU's owner thread in kernel mode (at a kernel
// entry or poll point), except for RemoteSafe work run on behalf of a parked
// CPU. It must not block and must not call owner methods.
//
// Errors: ErrClosed after Close; otherwise an *ArgError (errors.Is:
// ErrInvalid) that says why: an empty or duplicate name, a nil handler or
// option, a registration after the first Claim (the per-CPU handler tables
// are fixed from then on), or a 17th kind.
func (d *Domain) Register(name string, h func(cpu int), opts ...RegisterOption) (Work, error) {
	if name == "" {
		return Work{}, registerError("name", name, "empty")
	}
	if h == nil {
		return Work{}, registerError("handler", nil, fmt.Sprintf("nil (work %q)", name))
	}
	for i, o := range opts {
		if o == nil {
			return Work{}, registerError(fmt.Sprintf("opts[%d]", i), nil, fmt.Sprintf("nil option (work %q)", name))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case slices.ContainsFunc(d.works, func(w *workInfo) bool { return w.name == name }):
		return Work{}, registerError("name", name, "already registered")
	case d.closed.Load(): // load under mu: pairs with Close's store
		return Work{}, fmt.Errorf("ctdefer: Register(%q): %w", name, ErrClosed)
	case d.sealed:
		return Work{}, registerError("name", name, "registration is closed after the first Claim (the handler tables are fixed)")
	case len(d.works) >= ctseq.WorkBits:
		return Work{}, registerError("name", name, fmt.Sprintf("%d kinds of work are registered already, the limit (ctseq.WorkBits: one bit each in the per-CPU word)",
			len(d.works)))
	}
	info := &workInfo{name: name, bit: uint8(len(d.works)), handler: h}
	for _, o := range opts {
		o(info)
	}
	d.works = append(d.works, info)
	d.publishWorks()
	d.all |= ctseq.Of(int(info.bit))
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
			s.table.Set(int(w.bit), d.tableEntry(s, w))
		}
	}
}

// tableEntry wraps a handler for one CPU: it passes the CPU number and, in
// debug mode, takes the bit out of the danger zone once the handler has run.
func (d *Domain) tableEntry(s *slot, w *workInfo) func() {
	h, cpu := w.handler, s.cpu
	if !d.opts.Debug {
		return func() { h(cpu) }
	}
	mask := ^uint32(ctseq.Of(int(w.bit)))
	return func() {
		h(cpu)
		// load+store: only the owner writes danger; atomic for AssertFlushed readers.
		s.danger.Store(s.danger.Load() & mask)
	}
}

// slotOf returns the slot of cpu; method names the caller in the error.
func (d *Domain) slotOf(method string, cpu int) (*slot, error) {
	i := d.cpus.Of(cpu)
	if i < 0 {
		return nil, d.badCPU(method, cpu)
	}
	return &d.slots[i], nil
}

// badCPU is the *ArgError of method for cpu, which is not one of the
// domain's CPUs.
func (d *Domain) badCPU(method string, cpu int) error {
	return badCPU("ctdefer.Domain."+method, cpu, d.cpus.List(), "domain")
}

// Close shuts the Domain down, accounting for every delivery:
//
//  1. It refuses new work and claims (Defer, DeferWait, Send, IPI, Claim and
//     Register return ErrClosed from now on) and wakes every parked CPU (its
//     Idle returns ErrClosed; CPU.Closing reports true).
//  2. It waits until every claimed CPU has been released; each owner runs
//     its pending work when it releases. An owner found to have exited
//     without Release is taken back and its pending work handed back (see
//     ErrOwnerGone).
//  3. It closes the mailboxes. IPIs posted to a CPU no worker held are run
//     on its behalf if their work is RemoteSafe (on the goroutine calling
//     Close; for CPUs no worker holds, so they are not read-side critical
//     sections of package grace, which does not wait for unclaimed CPUs),
//     and handed back otherwise.
//
// Close returns nil if every delivery ran. Otherwise its error lists, in an
// *UndeliveredError, the deliveries the Domain handed back instead of
// running, each with the reason (ErrClosed for an IPI that step 3 could not
// run, ErrOwnerGone for an owner that exited), once per CPU, work and
// reason (deliveries of one work to one CPU handed back for the same reason
// are listed once, so the report stays bounded); a DeferWait, Send or IPI waiting for such a delivery
// returns an error wrapping the same reason. Work that ran, including
// RemoteSafe work Close ran itself, is never listed. If a handler that Close
// runs panics, Close still accounts for everything else, and its error also
// carries the panic (a *ctseq.HandlerPanic, found with errors.As).
//
// If ctx ends before every CPU is released, Close returns an error wrapping
// ctx.Err() that names the CPUs still claimed; nothing is handed back yet,
// and the Domain stays closed to new work. Call Close again to finish the
// job: a later Close resumes at step 2. Once a Close has finished, Close
// returns ErrClosed.
//
// Close must not be called by a CPU's owner, nor from a handler running on
// an owner (it would wait for itself): it returns an error wrapping
// ErrWouldDeadlock at once. While one Close runs, another (including one
// from a handler that Close runs) returns ErrClosed at once.
func (d *Domain) Close(ctx context.Context) error {
	if cpu, ok := d.calledByOwner(); ok {
		return fmt.Errorf("ctdefer: Close: called by the owner of CPU %d (or a handler running on it), "+
			"which Close would wait for: %w", cpu, ErrWouldDeadlock)
	}
	if !d.closeMu.TryLock() {
		return fmt.Errorf("ctdefer: Close: another Close is in progress: %w", ErrClosed)
	}
	defer d.closeMu.Unlock()
	if d.closeDone {
		return fmt.Errorf("ctdefer: Close: %w", ErrClosed)
	}
	ctx, endTask := tracex.Task(ctx, "ctdefer.Close")
	defer endTask()
	// Step 1, under mu, so that no Claim is between its closed check and
	// its claimers increment while Close starts waiting.
	d.mu.Lock()
	d.closed.Store(true) // store: new deliveries and claims see it (pairs with their loads)
	d.mu.Unlock()
	for i := range d.slots {
		d.slots[i].wakeUp()
	}
	// Step 2: wait for the workers to release, polling (no goroutine is
	// left behind if ctx ends first). The claimers load pairs with
	// Release's decrement, which follows its drain of the CPU's pending
	// work. Exited owners are looked for once the polls are slow, with a
	// garbage collection every 40 polls if only that can tell (exited owners are reclaimed, owner.md).
	polls := 0
	endWait := tracex.Region(ctx, "ctdefer.Close: wait for workers")
	start, stallLogged := time.Now(), d.opts.Logger == nil
	// The explorer's wait (false in normal builds).
	atomicx.Await(func() bool { return d.claimers.Load() == 0 }) // load: as below

	for sleep := 10 * time.Microsecond; d.claimers.Load() != 0; sleep = min(2*sleep, 5*time.Millisecond) { // load: pairs with the decrement in Release (giveUp) and reclaim
		if !stallLogged && time.Since(start) >= d.opts.IPITimeout {
			stallLogged = true
			d.logCloseWaiting(time.Since(start))
		}
		if sleep >= time.Millisecond {
			polls++
			for i := range d.slots {
				d.reapIfDead(&d.slots[i], polls%40 == 1)
			}
			if d.claimers.Load() == 0 { // load: pairs with reclaim's decrement
				break
			}
		}
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
			if len(busy) == 0 {
				continue // released meanwhile: finish the job
			}
			endWait()
			if !stallLogged {
				d.logCloseWaiting(time.Since(start))
			}
			return fmt.Errorf("ctdefer: Close: CPUs %v still claimed; call Close again to finish: %w", busy, ctx.Err())
		}
	}
	endWait()
	// Step 3.
	endMail := tracex.Region(ctx, "ctdefer.Close: close mailboxes")
	var panics []error
	for i := range d.slots {
		panics = append(panics, d.closeMailbox(&d.slots[i])...)
	}
	// Step 3, for queues: the values left in the rings (queue.go, Q6).
	for _, w := range d.works {
		if w.queue != nil {
			for i := range d.slots {
				panics = append(panics, w.queue.closeRing(i)...)
			}
		}
	}
	endMail()
	d.closeDone = true
	var errs []error
	pending := d.hand.report()
	if pending != nil {
		errs = append(errs, &UndeliveredError{Pending: pending})
	}
	d.logClose(pending, panics)
	return errors.Join(append(errs, panics...)...)
}

// closeMailbox is Close's step 3 for one released CPU: it kills the mailbox, runs
// the RemoteSafe work it held and hands back the rest. A panicking handler
// is recovered and returned, so that it cannot stop the accounting.
func (d *Domain) closeMailbox(s *slot) (panics []error) {
	work, gen := s.mbox.kill()
	var back ctseq.Work
	for b := range ctseq.WorkBits {
		if !work.Has(b) {
			continue
		}
		w := d.works[b]
		if !w.remoteSafe {
			back |= ctseq.Of(b)
			continue
		}
		if p := runRecovered(w, s.cpu); p != nil {
			panics = append(panics, fmt.Errorf("ctdefer: Close: handler %q run on behalf of CPU %d: %w", w.name, s.cpu, p))
		}
		s.sstats.onBehalf.Inc()       // counter: orders nothing, read by Stats
		s.swork.onBehalf[w.bit].Inc() // counter, per work: ditto
	}
	if back != 0 {
		d.hand.add(d, s, ticketIPI, gen, back, fmt.Errorf("ctdefer: CPU %d: posted while no worker held it: %w", s.cpu, ErrClosed))
	}
	// store: everything this generation held has run or is in the log;
	// release its waiters (pairs with the load in wait).
	s.ipiDone.Store(gen)
	return panics
}

// runRecovered runs w's handler for cpu and returns its panic, if any.
func runRecovered(w *workInfo, cpu int) (p *ctseq.HandlerPanic) {
	defer func() {
		if r := recover(); r != nil {
			p = &ctseq.HandlerPanic{Bit: int(w.bit), Value: r, Stack: debug.Stack()}
		}
	}()
	w.handler(cpu)
	return nil
}

// calledByOwner reports whether the calling goroutine owns a CPU of d: it
// is locked to a thread that a claimed slot names (a locked thread runs
// nothing but its goroutine, so the thread identifies it).
func (d *Domain) calledByOwner() (cpu int, ok bool) {
	tid := gettid()
	if tid <= 0 {
		return 0, false // no thread IDs on this platform
	}
	r, ok := lookupOwner(tid)
	if !ok || r.d != d {
		return 0, false
	}
	return r.s.cpu, true
}

// UndeliveredError is returned by Close when deliveries were handed back
// instead of run (see Close). errors.Is finds ErrClosed, and ErrOwnerGone
// if an owner exited.
type UndeliveredError struct {
	// Pending has one Outcome for every work handed back to a CPU instead
	// of run, per reason: its Delivery is zero and its Err wraps ErrClosed
	// (posted to a CPU no worker held when Close ran) or ErrOwnerGone
	// (pending on a CPU whose owner exited without Release). For a Queue it
	// has one Outcome per value handed back instead, with the value in
	// Value, in the order the values were enqueued on each CPU.
	Pending []Outcome
}

// Error lists the undelivered work.
func (e *UndeliveredError) Error() string {
	var b strings.Builder
	b.WriteString("ctdefer: Close: work handed back, never run:")
	for _, p := range e.Pending {
		why := "closed"
		if errors.Is(p.Err, ErrOwnerGone) {
			why = "owner gone"
		}
		if p.Value != nil {
			fmt.Fprintf(&b, " %s@CPU%d=%v (%s)", p.Work.String(), p.CPU, p.Value, why)
			continue
		}
		fmt.Fprintf(&b, " %s@CPU%d (%s)", p.Work.String(), p.CPU, why)
	}
	return b.String()
}

// Unwrap returns ErrClosed and the reason of each handed-back delivery.
func (e *UndeliveredError) Unwrap() []error {
	errs := []error{ErrClosed}
	for _, p := range e.Pending {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}
