package ctdefer

import (
	"math/bits"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/rtnoise"
	"github.com/ctdefer/ctdefer/internal/sysx"
	"github.com/ctdefer/ctdefer/stats"
)

// Stats returns the Domain's statistics: the totals, each CPU's and each
// registered work's (see Stats for publishing them on expvar). It reads
// counters only, never disturbing the owners, and allocates the two slices
// and, for each CPU that has had IPIs, its latency Histogram (about 8 KB):
// it is meant for exporters, tests and reports, not hot paths.
func (d *Domain) Stats() stats.Snapshot {
	st := stats.Snapshot{CPUs: make([]stats.CPU, len(d.slots))}
	for i := range d.slots {
		c := &st.CPUs[i]
		d.slots[i].stats(c)
		addCPU(&st, c)
	}
	var works []*workInfo
	if p := d.worksPub.Load(); p != nil { // load: pairs with the store in publishWorks
		works = *p
	}
	st.GCCycles, st.GCPauses = gcNoise()
	st.GOMAXPROCS, st.ProcessClaims = runtime.GOMAXPROCS(0), claimedWorkers()
	st.RequireHeadroom = d.opts.RequireHeadroom
	st.Works = make([]stats.Work, len(works))
	for i, w := range works {
		st.Works[i] = d.workStats(w)
	}
	return st
}

// publishWorks publishes d.works for Stats, which takes no lock: a Stats
// that the explorer runs inside one step may not wait for one. Called by
// Register, with d.mu held. The slice is append-only: the prefix a Stats
// loaded never changes.
func (d *Domain) publishWorks() {
	ws := d.works[:len(d.works):len(d.works)]
	d.worksPub.Store(&ws) // store under mu: pairs with the load in Stats
}

// addCPU adds one CPU's counters to the totals.
func addCPU(s *stats.Snapshot, c *stats.CPU) {
	s.Deferred += c.Deferred
	s.Drains += c.Drains
	s.Flushes += c.Flushes
	s.IPIs += c.IPIs
	s.IPIRuns += c.IPIRuns
	s.IPIsInUser += c.IPIsInUser
	s.OnBehalf += c.OnBehalf
	s.Refused += c.Refused
	s.Executed += c.Executed
	s.OwnersGone += c.OwnersGone
	s.NoHeadroom += c.NoHeadroom
	s.IPILatency.Merge(c.IPILatency)
}

// stats reads the slot's counters into c.
func (s *slot) stats(c *stats.CPU) {
	o, x := &s.ostats, &s.sstats
	*c = stats.CPU{
		CPU:        s.cpu,
		Claimed:    s.claimed.Load(), // load: reporting only
		State:      s.word.Snapshot().State().String(),
		Deferred:   s.owork.deferred.sum(),
		Drains:     o.drains.Load(),
		Flushes:    o.flushes.Load(),
		IPIs:       x.ipis.Load(),
		IPIRuns:    s.owork.ipiRuns.sum(),
		IPIsInUser: o.ipisInUser.Load(),
		OnBehalf:   x.onBehalf.Load(),
		OwnersGone: x.reclaims.Load(),
		NoHeadroom: s.swork.noHeadroom.Load(),
	}
	if tid := s.ownerTid.Load(); c.Claimed && tid > 0 { // load: reporting only
		// The owner's thread, read from /proc: a file read, on this
		// reporting path only (zero if it has just exited).
		c.OwnerVoluntarySwitches, c.OwnerInvoluntarySwitches, _ = sysx.ThreadSwitches(int(tid))
	}
	s.owork.latency.load(&c.IPILatency, time.Duration(o.maxIPILatency.Load()))
	c.Refused = c.IPIs + c.OnBehalf
	c.Executed = c.Deferred + o.flushRuns.Load() + c.IPIRuns + c.OnBehalf
}

// workStats sums the counters of one work over the slots.
func (d *Domain) workStats(info *workInfo) stats.Work {
	b := info.bit
	st := stats.Work{Name: info.name}
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

// ownerStats are written only by the CPU's owner (atomically, so that Stats
// may read them from anywhere), on its slow paths: an entry that found work,
// an IPI handled. An entry without work counts nothing. These atomics order
// nothing: they are counters, read for reporting only. The executions by
// work (deferred, by IPI) are in ownerWorkStats (below).
type ownerStats struct {
	// Owner-only counters: plain increments where the platform allows
	// (atomicx.OwnerCounter), so that they cost nothing on the entry path.
	drains        atomicx.OwnerCounter
	flushes       atomicx.OwnerCounter
	flushRuns     atomicx.OwnerCounter
	ipisInUser    atomicx.OwnerCounter
	maxIPILatency atomicx.Int64
}

// senderStats are written by senders, only on the refusal path (IPI or on
// behalf), never on the deferral fast path.
type senderStats struct {
	ipis     atomicx.Uint64
	onBehalf atomicx.Uint64
	reclaims atomicx.Uint64 // owners found gone (exited owners are reclaimed, owner.md)
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

// gcNoise reads the Go runtime's garbage-collection counts from
// runtime/metrics: completed cycles, and the total stop-the-world time for
// GC, summed from its histogram (internal/rtnoise).
func gcNoise() (cycles uint64, pauses time.Duration) {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		cycles = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindFloat64Histogram {
		pauses, _ = rtnoise.Pauses(samples[1].Value.Float64Histogram(), nil)
	}
	return cycles, pauses
}
