package ctdefer

import (
	"fmt"
	"math/bits"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// WorkStats counts what happened to one registered work, summed over the
// CPUs of its Domain (Domain.WorkStats).
//
// As in Stats, deliveries of the work to one CPU pending at the same time
// are merged into one execution, so the execution counts may be lower than
// the number of Defer calls.
type WorkStats struct {
	// Name is the work's name.
	Name string
	// Deferred counts executions that were deferred: accepted while the
	// CPU was in user mode and run at its next kernel entry.
	Deferred uint64
	// IPIs counts IPIs posted for the work: deliveries the CPU's word
	// refused (it was in the kernel or idle), or sent by Domain.IPI.
	IPIs uint64
	// IPIRuns counts executions delivered by IPI.
	IPIRuns uint64
	// OnBehalf counts executions of RemoteSafe work by a sender while the
	// CPU was parked (or by Close, for a CPU no worker held).
	OnBehalf uint64
	// Flushed counts executions at the kernel entries of CPUs claimed with
	// FlushOnEntry, which run every registered work each time.
	Flushed uint64
	// Runs counts every execution: Deferred + IPIRuns + OnBehalf + Flushed.
	Runs uint64
}

// String formats the counters on one line.
func (s WorkStats) String() string {
	return fmt.Sprintf("%s: deferred=%d ipis=%d ipi-runs=%d on-behalf=%d flushed=%d runs=%d",
		s.Name, s.Deferred, s.IPIs, s.IPIRuns, s.OnBehalf, s.Flushed, s.Runs)
}

// WorkStats returns the counters of w, summed over every CPU of the Domain.
// It fails with an *ArgError (ErrInvalid) for a Work that this Domain's Register did
// not return.
func (d *Domain) WorkStats(w Work) (WorkStats, error) {
	if w.d != d || w.info == nil {
		return WorkStats{}, unregistered("WorkStats", w)
	}
	return d.workStats(w.info), nil
}

// workStats sums the counters of one work over the slots.
func (d *Domain) workStats(info *workInfo) WorkStats {
	b := info.bit
	st := WorkStats{Name: info.name}
	for i := range d.slots {
		s := &d.slots[i]
		// Counter loads: reporting only.
		st.Deferred += s.owork.deferred[b].Load()
		st.IPIRuns += s.owork.ipiRuns[b].Load()
		st.IPIs += s.swork.ipis[b].Load()
		st.OnBehalf += s.swork.onBehalf[b].Load()
		// Every registered work runs at each FlushOnEntry entry: the
		// registry is sealed before the first Claim.
		st.Flushed += s.ostats.flushes.Load() // load: counter, reporting only
	}
	st.Runs = st.Deferred + st.IPIRuns + st.OnBehalf + st.Flushed
	return st
}

// workCounts counts events per work bit. Counter operations order nothing
// and are not scheduling points of the explorer (see atomicx.Counter).
type workCounts [ctseq.WorkBits]atomicx.Counter

// ownerWorkCounts is workCounts for the owner's own counts: plain
// increments where the platform allows (atomicx.OwnerCounter).
type ownerWorkCounts [ctseq.WorkBits]atomicx.OwnerCounter

// count adds one for each bit of work (owner only).
func (c *ownerWorkCounts) count(work ctseq.Work) {
	for w := uint16(work); w != 0; w &= w - 1 {
		c[bits.TrailingZeros16(w)].Inc() // counter, owner only: orders nothing, read by Stats
	}
}

// sum returns the total over every bit.
func (c *ownerWorkCounts) sum() uint64 {
	var n uint64
	for i := range c {
		n += c[i].Load() // counter: reporting only
	}
	return n
}

// ownerWorkStats are written only by the CPU's owner (or by the goroutine
// that takes an exited owner's CPU back), on the paths that run work: a
// drain, an IPI claim. They replace aggregate counters, so that a kernel
// entry with one work does no more atomic operations than before.
type ownerWorkStats struct {
	deferred ownerWorkCounts // executions deferred to a kernel entry
	ipiRuns  ownerWorkCounts // executions by IPI
	latency  latencyCounts   // IPI latency, one sample per claim
}

// senderWorkStats are written by senders on the refusal path (an IPI, a run
// on behalf), by Close, and by Claim (the headroom count), never on the
// deferral fast path.
type senderWorkStats struct {
	ipis       workCounts
	onBehalf   workCounts
	noHeadroom atomicx.Counter // claims of this CPU that left no P to spare (headroom.go)
}
