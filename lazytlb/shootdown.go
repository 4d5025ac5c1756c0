package lazytlb

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/internal/tracex"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Result says what one Shootdown did, CPU by CPU. Each CPU found in the
// set is counted in exactly one of IPIs, Marked, AlreadyMarked,
// SkippedLazy, Left and Deferred; the IPIs avoided are the sum of Marked,
// AlreadyMarked, SkippedLazy and Left. Print it with %+v.
type Result struct {
	// Gen is the generation the shootdown published: after it returns,
	// every CPU that uses the MM has flushed to at least Gen (for a
	// ShootdownKernel: every CPU that uses it in kernel mode).
	Gen uint64
	// CPUs is the number of CPUs found in the MM's set.
	CPUs int
	// IPIs counts the flush IPIs the shootdown attempted: sends that ran
	// the flush, and failed ones (the one that made Shootdown return an
	// error, or one to a CPU that left meanwhile).
	IPIs int
	// Marked counts lazy CPUs marked Flush with one CAS, without an IPI.
	Marked int
	// AlreadyMarked counts CPUs found Flush: nothing to do.
	AlreadyMarked int
	// SkippedLazy counts lazy CPUs skipped without marking. Always zero
	// for the lazy design; the flush-on-switch baseline that the
	// module's comparisons run (its lazy CPUs flush at every switch back
	// anyway) counts here.
	SkippedLazy int
	// Left counts CPUs that left the set meanwhile: found Off, or out of
	// the set at the re-check before a send.
	Left int
	// Deferred counts ShootdownKernel flushes deferred to a user-mode CPU's
	// next kernel entry (ctdefer.Domain.Send), not waited for. A
	// ShootdownKernel flush sent as an IPI is counted in IPIs.
	Deferred int
}

// Shootdown publishes a new generation of mm's translations and returns
// once no CPU can still use an older one: each CPU of mm's set has flushed
// to the new generation, or will flush before its next use of mm. What it
// does with each CPU depends on the CPU's state (see the package
// documentation): a CPU active on mm (OK) gets an IPI, a lazy one is marked
// Flush with one CAS; [Result] counts it.
//
// The caller must not be the owner of a CPU of the set that is active (OK)
// on mm (in ShootdownKernel, of any CPU of the set): its IPI would wait for
// the caller itself.
//
// The wait for an IPI is [ctdefer.Domain.IPI]'s (or
// [ctdefer.Domain.Send]'s): it honours ctx while it spins and while it
// sleeps, so an IPI not handled when ctx ends gives, within about a
// millisecond, an error wrapping ctx.Err() (context.DeadlineExceeded for the
// caller's deadline, context.Canceled); one not handled within the Domain's
// Options.IPITimeout, when ctx has no deadline, gives an error wrapping
// ctdefer.ErrIPITimeout and not DeadlineExceeded. A ctx already done when
// Shootdown is called gives ctx.Err() wrapped, before the generation is
// bumped. The error names the MM and the CPU; CPUs after it are not
// handled, and the flushes already posted still run. A CPU that left mm
// while its IPI was pending is not an error. Errors: a *ctdefer.ArgError
// (wrapping ctdefer.ErrInvalid) for a nil mm, one of another TLB or a nil
// ctx, before the generation is bumped; ctx's or the delivery's error,
// wrapped. It panics on a CPU of the set that no worker has claimed: its
// owner released it without CPU.Leave, so nobody would take the flush IPI.
// Marking and skipping never allocate; an IPI whose wait outlasts the
// Domain's SpinWait allocates the Domain's timer.
func (t *TLB) Shootdown(ctx context.Context, mm *MM) (Result, error) {
	return t.shootdown(ctx, "Shootdown", mm, false)
}

// ShootdownKernel is Shootdown for translations used only by kernel-mode
// code (the runtime's own code, between KernelEnter and UserEnter, and IPI
// handlers), as the kernel's flush_tlb_kernel_range: a CPU in user mode
// cannot use them before its next kernel entry. Every CPU of the set, lazy
// or not, then gets the flush through the Domain's Send: deferred with a
// context-tracking work bit to its next kernel entry if it is in user mode,
// where it runs before any kernel-mode code, so the shootdown neither
// interrupts nor waits for it (Result.Deferred); an IPI that is waited for
// if it is in the kernel or idle (Result.IPIs). The lazy states are left
// alone. Errors and waits are Shootdown's.
func (t *TLB) ShootdownKernel(ctx context.Context, mm *MM) (Result, error) {
	return t.shootdown(ctx, "ShootdownKernel", mm, true)
}

// shootdown is Shootdown, and ShootdownKernel with kernel set; method names
// the caller in errors.
func (t *TLB) shootdown(ctx context.Context, method string, mm *MM, kernel bool) (Result, error) {
	if mm == nil {
		return Result{}, &ctdefer.ArgError{Call: "lazytlb.TLB." + method, Arg: "mm", Reason: "nil *MM"}
	}
	if mm.t != t {
		return Result{}, &ctdefer.ArgError{Call: "lazytlb.TLB." + method, Arg: "mm", Value: mm.name, Reason: "an address space of another TLB"}
	}
	if ctx == nil {
		return Result{}, &ctdefer.ArgError{Call: "lazytlb.TLB." + method, Arg: "ctx", Reason: "nil context.Context"}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("lazytlb: %s(%s): %w", method, mm.name, err)
	}
	cfg := shootdownConfig{kernel: kernel}
	ctx, end := tracex.Task(ctx, "lazytlb.Shootdown") // one check unless a trace is recording
	defer end()
	// RMW: the new generation. Before the set is read: pairs with
	// the join's CAS and gen load (Dekker), and with every flush's load.
	res := Result{Gen: mm.gen.Add(1)}
	var err error
	for w := 0; w < len(mm.cpus) && err == nil; w++ {
		m := mm.cpus[w].Load() // load: after the Add; pairs with join's and leave's CAS (no stale translation)
		for m != 0 && err == nil {
			s := &t.slots[w*64+bits.TrailingZeros64(m)]
			m &= m - 1
			res.CPUs++
			err = t.shootOne(ctx, mm, s, cfg, &res)
		}
	}
	t.stats.add(&res)
	return res, err
}

// shootdownConfig is what a shootdown is asked to do beyond the policy.
type shootdownConfig struct {
	kernel bool // ShootdownKernel: every CPU of the set gets the flush through Send
}

// shootOne decides for one CPU: IPI, mark, or skip.
func (t *TLB) shootOne(ctx context.Context, mm *MM, s *slot, cfg shootdownConfig, res *Result) error {
	if cfg.kernel || t.opts.policy == lazytlbsim.PolicyEager {
		return t.deliver(ctx, mm, s, cfg.kernel, res)
	}
	// load: after the Add (a store-then-load pattern with the
	// owner's Swap or Store then gen load: skipping on Flush or Off needs
	// the total order, see docs/design/lazytlb.md); pairs with the owner's Store/Swap.
	st := s.state.load()
	for {
		switch st {
		case stOK:
			return t.deliver(ctx, mm, s, false, res)
		case stFlush:
			res.AlreadyMarked++
			return nil
		case stOff:
			res.Left++
			return nil
		}
		if t.opts.policy == lazytlbsim.PolicyFlushOnSwitch {
			res.SkippedLazy++ // its switch back flushes unconditionally
			return nil
		}
		if s.state.mark() {
			res.Marked++ // its switch back sees Flush (FLUSH is never overwritten)
			return nil
		}
		st = s.state.load() // the owner switched back or left: re-decide
	}
}

// deliver is a send: announce the send to s's CPU, re-check that the CPU
// is still in mm's set, send the flush and wait for it (unless deferred).
func (t *TLB) deliver(ctx context.Context, mm *MM, s *slot, kernel bool, res *Result) error {
	// RMW: announce the send before the re-check; pairs with Leave's load
	// of inflight after its CAS cleared the bit (Dekker: Leave leaves no send behind).
	s.inflight.Add(1)
	if !mm.has(s.idx) {
		s.inflight.Sub(1) // RMW: no send; pairs with Leave's wait
		res.Left++        // it left: a rejoin reads gen after this shootdown's Add
		return nil
	}
	// The CPU is in the set and its Leave, if any, now waits for us:
	// only an owner that released without Leave is not polling.
	if t.d != nil && !claimed(t.d, s.cpu) {
		s.inflight.Sub(1) // RMW: no send; pairs with Leave's wait
		panic(fmt.Sprintf("lazytlb: TLB.Shootdown: address space %q: CPU %d is in its set but no worker has claimed it: its owner released it without CPU.Leave",
			mm.name, s.cpu))
	}
	how, err := t.send(ctx, s.cpu, kernel)
	if kernel && err == nil && how == ctdefer.Deferred {
		res.Deferred++ // runs at the CPU's next kernel entry, before any kernel-mode code
	} else {
		res.IPIs++
	}
	if err != nil {
		switch {
		case !mm.has(s.idx):
			// The owner cleared its bit meanwhile and is in Leave, which
			// waits for this send: no flush of mm is owed.
			err = nil
		case t.d != nil && !claimed(t.d, s.cpu):
			s.inflight.Sub(1) // RMW: the send is over; pairs with Leave's wait
			panic(fmt.Sprintf("lazytlb: TLB.Shootdown: address space %q: CPU %d: no worker has claimed it: its owner released it without CPU.Leave (the send failed: %v)",
				mm.name, s.cpu, err))
		default:
			err = fmt.Errorf("lazytlb: Shootdown(%s): CPU %d: %w", mm.name, s.cpu, err)
		}
	}
	s.inflight.Sub(1) // RMW: the send is over (after the re-check above); pairs with Leave's wait
	return err
}

// Stats counts what a TLB's shootdowns and owners did. The IPIs avoided are
// the sum of Marked, AlreadyMarked, SkippedLazy and Left. Print it with %+v.
type Stats struct {
	Shootdowns    uint64
	CPUs          uint64 // CPUs found in the sets: the sum of the six below
	IPIs          uint64 // flush IPIs attempted (failed ones included)
	Marked        uint64 // lazy CPUs marked Flush (no IPI)
	AlreadyMarked uint64 // CPUs found Flush (no IPI)
	SkippedLazy   uint64 // lazy CPUs skipped unmarked (flush-on-switch)
	Left          uint64 // CPUs found Off
	Deferred      uint64 // kernel-range flushes deferred to a kernel entry (not waited for)
	MarksSeen     uint64 // Flush states consumed by switch backs and leaves
	LeaveWaits    uint64 // Leaves that waited for a shootdown sending to their CPU
	JoinFlushes   uint64 // flushes at SwitchTo of an MM not loaded
	SwitchFlushes uint64 // flushes at switch back
	IPIFlushes    uint64 // flushes by the IPI handler
}

// Stats returns the TLB's counters.
func (t *TLB) Stats() Stats {
	f := &t.stats
	st := Stats{
		Shootdowns:    f.shootdowns.Load(),
		CPUs:          f.cpus.Load(),
		IPIs:          f.ipis.Load(),
		Marked:        f.marked.Load(),
		AlreadyMarked: f.alreadyMarked.Load(),
		SkippedLazy:   f.skippedLazy.Load(),
		Left:          f.left.Load(),
		Deferred:      f.deferred.Load(),
	}
	for i := range t.slots {
		o := &t.slots[i].ostats
		st.MarksSeen += o.marksSeen.Load()
		st.JoinFlushes += o.joinFlushes.Load()
		st.SwitchFlushes += o.switchFlushes.Load()
		st.IPIFlushes += o.ipiFlushes.Load()
		st.LeaveWaits += o.leaveWaits.Load()
	}
	return st
}

// flusherStats are written by shootdowns, once per call.
type flusherStats struct {
	shootdowns    atomicx.Uint64
	cpus          atomicx.Uint64
	ipis          atomicx.Uint64
	marked        atomicx.Uint64
	alreadyMarked atomicx.Uint64
	skippedLazy   atomicx.Uint64
	left          atomicx.Uint64
	deferred      atomicx.Uint64
}

func (f *flusherStats) add(r *Result) {
	f.shootdowns.Inc()
	for _, c := range [...]struct {
		n int
		c *atomicx.Uint64
	}{{r.CPUs, &f.cpus}, {r.IPIs, &f.ipis}, {r.Marked, &f.marked}, {r.AlreadyMarked, &f.alreadyMarked},
		{r.SkippedLazy, &f.skippedLazy}, {r.Left, &f.left}, {r.Deferred, &f.deferred}} {
		if c.n != 0 {
			c.c.Add(uint64(c.n))
		}
	}
}
