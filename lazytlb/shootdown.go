package lazytlb

import (
	"context"
	"fmt"
	"math/bits"

	"go.uber.org/atomic"
)

// Result says what one Shootdown did, CPU by CPU.
type Result struct {
	// Gen is the generation the shootdown published: after it returns,
	// every CPU that uses the MM has flushed to at least Gen.
	Gen uint64
	// CPUs is the number of CPUs found in the MM's set.
	CPUs int
	// IPIs counts synchronous flush IPIs sent (and completed).
	IPIs int
	// Marked counts lazy CPUs marked Flush with one CAS, without an IPI.
	Marked int
	// AlreadyMarked counts CPUs found Flush: nothing to do.
	AlreadyMarked int
	// SkippedLazy counts lazy CPUs skipped without marking
	// (PolicyFlushOnSwitch: they flush at every switch back anyway).
	SkippedLazy int
	// Left counts CPUs found Off: they left the set meanwhile.
	Left int
	// Deferred counts KernelRange flushes delivered with DeferWait
	// (deferred to a user-mode CPU's next kernel entry, else an IPI).
	Deferred int
}

// Skipped returns the number of IPIs the shootdown avoided: CPUs of the set
// it did not interrupt.
func (r Result) Skipped() int { return r.Marked + r.AlreadyMarked + r.SkippedLazy + r.Left }

func (r Result) String() string {
	return fmt.Sprintf("gen=%d cpus=%d ipis=%d marked=%d already-marked=%d skipped-lazy=%d left=%d deferred=%d",
		r.Gen, r.CPUs, r.IPIs, r.Marked, r.AlreadyMarked, r.SkippedLazy, r.Left, r.Deferred)
}

// ShootdownOption modifies one Shootdown. It is a small value rather than
// a function so that passing options allocates nothing.
type ShootdownOption struct {
	kernel bool
}

type shootdownConfig = ShootdownOption

// KernelRange declares that the changed translations are used only by
// kernel-mode code (the runtime's own code, between KernelEnter and
// UserEnter, and IPI handlers): a CPU in user mode cannot use them before
// its next kernel entry. Every CPU of the set, lazy or not, then gets the
// flush through the Domain's DeferWait: deferred with a context-tracking
// work bit to its next kernel entry if it is in user mode (no
// interruption), an IPI if it is in the kernel. The lazy states are left
// alone. Shootdown still returns only once each CPU has flushed.
func KernelRange() ShootdownOption {
	return ShootdownOption{kernel: true}
}

// Shootdown publishes a new generation of mm's translations and returns
// once no CPU can still use an older one (steps 6 to 8 of the handshake in
// state.go). What it does with each CPU of mm's set depends on the policy
// and the CPU's state; Result counts it. The caller must not be the owner
// of a CPU in the set that is using mm (its IPI would wait for itself).
//
// It honours ctx: an IPI that does not complete in time gives an error
// naming the CPU (wrapping ctx.Err(), or ctdefer.ErrIPITimeout without a
// deadline); CPUs after it are not handled, and the flushes already posted
// still run. A CPU that left mm while its IPI was pending is not an error.
// Errors: ErrForeignMM, and ctx's or the delivery's error wrapped with the
// CPU. Marking and skipping never allocate; an IPI whose wait outlasts the
// Domain's SpinWait allocates the Domain's timer.
func (t *TLB) Shootdown(ctx context.Context, mm *MM, opts ...ShootdownOption) (Result, error) {
	if mm == nil || mm.t != t {
		return Result{}, fmt.Errorf("lazytlb: Shootdown(%v): %w", mm, ErrForeignMM)
	}
	var cfg shootdownConfig
	for _, o := range opts {
		cfg.kernel = cfg.kernel || o.kernel
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("lazytlb: Shootdown(%s): %w", mm.name, err)
	}
	// RMW: step 6, the new generation. Before the set is read: pairs with
	// the join's CAS and gen load (Dekker), and with every flush's load.
	res := Result{Gen: mm.gen.Add(1)}
	var err error
	for w := 0; w < len(mm.cpus) && err == nil; w++ {
		m := mm.cpus[w].Load() // load: step 7, after the Add; pairs with join's and leave's CAS
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

// shootOne is step 7 for one CPU.
func (t *TLB) shootOne(ctx context.Context, mm *MM, s *slot, cfg shootdownConfig, res *Result) error {
	if cfg.kernel {
		res.Deferred++
		return t.deliver(ctx, mm, s, true, res)
	}
	if t.opts.Policy == PolicyEager {
		return t.deliver(ctx, mm, s, false, res)
	}
	st := s.state.load()
	for {
		switch st {
		case OK:
			return t.deliver(ctx, mm, s, false, res)
		case Flush:
			res.AlreadyMarked++
			return nil
		case Off:
			res.Left++
			return nil
		}
		if t.opts.Policy == PolicyFlushOnSwitch {
			res.SkippedLazy++ // its switch back flushes unconditionally
			return nil
		}
		if s.state.mark() {
			res.Marked++ // its switch back sees Flush (state.go, step 3)
			return nil
		}
		st = s.state.load() // the owner switched back or left: re-decide
	}
}

// deliver sends the flush to s's CPU and waits for it.
func (t *TLB) deliver(ctx context.Context, mm *MM, s *slot, kernel bool, res *Result) error {
	if !kernel {
		res.IPIs++
	}
	err := t.send(ctx, s.cpu, kernel)
	if err == nil {
		return nil
	}
	if s.state.load() == Off { // the CPU left mm meanwhile: no flush is owed
		return nil
	}
	return fmt.Errorf("lazytlb: Shootdown(%s): CPU %d: %w", mm.name, s.cpu, err)
}

// Stats counts what a TLB's shootdowns and owners did.
type Stats struct {
	Shootdowns    uint64
	IPIs          uint64 // flush IPIs sent
	Marked        uint64 // lazy CPUs marked Flush (no IPI)
	AlreadyMarked uint64 // CPUs found Flush (no IPI)
	SkippedLazy   uint64 // lazy CPUs skipped unmarked (flush-on-switch)
	Left          uint64 // CPUs found Off
	Deferred      uint64 // kernel-range deliveries through DeferWait
	MarksSeen     uint64 // Flush states consumed by switch backs and leaves
	JoinFlushes   uint64 // flushes at SwitchTo of an MM not loaded
	SwitchFlushes uint64 // flushes at switch back
	IPIFlushes    uint64 // flushes by the IPI handler
}

// Skipped returns the IPIs avoided: CPUs of a set that were not interrupted.
func (s Stats) Skipped() uint64 { return s.Marked + s.AlreadyMarked + s.SkippedLazy + s.Left }

func (s Stats) String() string {
	return fmt.Sprintf("shootdowns=%d ipis=%d skipped=%d (marked=%d already-marked=%d skipped-lazy=%d left=%d) deferred=%d marks-seen=%d flushes: join=%d switch=%d ipi=%d",
		s.Shootdowns, s.IPIs, s.Skipped(), s.Marked, s.AlreadyMarked, s.SkippedLazy, s.Left, s.Deferred,
		s.MarksSeen, s.JoinFlushes, s.SwitchFlushes, s.IPIFlushes)
}

// Stats returns the TLB's counters.
func (t *TLB) Stats() Stats {
	f := &t.stats
	st := Stats{
		Shootdowns:    f.shootdowns.Load(),
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
	}
	return st
}

// flusherStats are written by shootdowns, once per call.
type flusherStats struct {
	shootdowns    atomic.Uint64
	ipis          atomic.Uint64
	marked        atomic.Uint64
	alreadyMarked atomic.Uint64
	skippedLazy   atomic.Uint64
	left          atomic.Uint64
	deferred      atomic.Uint64
}

func (f *flusherStats) add(r *Result) {
	f.shootdowns.Inc()
	for _, c := range [...]struct {
		n int
		c *atomic.Uint64
	}{{r.IPIs, &f.ipis}, {r.Marked, &f.marked}, {r.AlreadyMarked, &f.alreadyMarked},
		{r.SkippedLazy, &f.skippedLazy}, {r.Left, &f.left}, {r.Deferred, &f.deferred}} {
		if c.n != 0 {
			c.c.Add(uint64(c.n))
		}
	}
}
