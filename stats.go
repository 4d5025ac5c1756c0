package ctdefer

import (
	"math/bits"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Stats is a snapshot of a Domain's statistics (Domain.Stats): its
// counters summed over every CPU, each CPU's own (CPUs) and each registered
// work's (Works).
//
// Deliveries of the same work that are pending at the same time are merged
// into one execution (as the kernel's work bits are), so counts of executions
// may be lower than counts of Defer calls.
//
// Each counter is read atomically; the whole is not a snapshot of one
// instant (counters move while it is read). Stats encodes to JSON with the
// field names (durations in nanoseconds, a Histogram as its summary and
// non-empty buckets), so that one line serves it, live, on expvar's
// /debug/vars with the rest of the process's statistics:
//
//	expvar.Publish("ctdefer", expvar.Func(func() any { return d.Stats() }))
//
// (expvar.Publish panics if the name is taken: one name per Domain. The
// package does not import expvar itself, which would register its HTTP
// handler in every program that imports ctdefer.)
type Stats struct {
	// Deferred counts work executions that were deferred: accepted while
	// the CPU was in user mode and run at its next kernel entry.
	Deferred uint64
	// Drains counts kernel entries that found deferred work.
	Drains uint64
	// Flushes counts kernel entries that ran every registered work because
	// the CPU was claimed with FlushOnEntry.
	Flushes uint64
	// IPIs counts IPIs sent to the CPU: work refused by its word (the CPU
	// was in the kernel or idle) and posted to its mailbox.
	IPIs uint64
	// IPIRuns counts work executions delivered by IPI.
	IPIRuns uint64
	// IPIsInUser counts IPIs that the CPU handled while in user mode (at a
	// Poll): the sender saw it in the kernel, it returned to user before
	// the IPI arrived. This race is inherent (the kernel has it too, as the
	// LKML thread "context-tracking: Introduce work deferral
	// infrastructure", July 2023, notes); it is counted, not hidden.
	IPIsInUser uint64
	// OnBehalf counts remote-safe work run by a sender while the CPU was
	// parked, instead of waking it.
	OnBehalf uint64
	// Refused counts deliveries refused by the CPU's word (IPIs + OnBehalf).
	Refused uint64
	// Executed counts every execution: Deferred + Flushes' handlers +
	// IPIRuns + OnBehalf.
	Executed uint64
	// OwnersGone counts owners found exited without Release, whose CPU
	// the runtime took back (see ErrOwnerGone).
	OwnersGone uint64
	// NoHeadroom counts claims of the CPU that left no GOMAXPROCS headroom:
	// with it, the process's claimed CPUs reached runtime.GOMAXPROCS (see
	// Options.RequireHeadroom).
	NoHeadroom uint64
	// IPILatency is the distribution of the time between an IPI's post
	// and its handling by the CPU: one sample per IPI claim (posts merged
	// into one claim count once, from the oldest). Its Quantile(1) is the
	// worst time observed (approximate under concurrent posts). The CPUs
	// count it by power of two: a quantile is the upper bound of the power
	// of two that holds it, an overestimate by less than a factor of two.
	IPILatency Histogram

	// CPUs holds each CPU's statistics, in the Domain's CPU order
	// (Domain.CPUs).
	CPUs []CPUStats
	// Works holds each registered work's counters, in registration order.
	Works []WorkStats
}

// CPUStats is one CPU's entry in Stats: which CPU, its state when read,
// and its counters, which mean what Stats' fields of the same names mean,
// for this CPU alone.
type CPUStats struct {
	// CPU is the CPU's number.
	CPU int
	// Claimed reports whether a worker held the CPU (Claim without Release).
	Claimed bool
	// State is its context-tracking state: "user", "kernel" or "idle".
	State string

	Deferred   uint64
	Drains     uint64
	Flushes    uint64
	IPIs       uint64
	IPIRuns    uint64
	IPIsInUser uint64
	OnBehalf   uint64
	Refused    uint64
	Executed   uint64
	OwnersGone uint64
	NoHeadroom uint64
	IPILatency Histogram
}

// WorkStats is one registered work's entry in Stats: what happened to it,
// summed over the CPUs of its Domain.
//
// As in Stats, deliveries of the work to one CPU pending at the same time
// are merged into one execution, so the execution counts may be lower than
// the number of Defer calls.
type WorkStats struct {
	// Name is the work's name (Work.String).
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

// Stats returns the Domain's statistics: the totals, each CPU's and each
// registered work's (see Stats for publishing them on expvar). It reads
// counters only, never disturbing the owners, and allocates the two slices
// and, for each CPU that has had IPIs, its latency Histogram (about 8 KB):
// it is meant for exporters, tests and reports, not hot paths.
func (d *Domain) Stats() Stats {
	st := Stats{CPUs: make([]CPUStats, len(d.slots))}
	for i := range d.slots {
		c := &st.CPUs[i]
		d.slots[i].stats(c)
		st.add(c)
	}
	var works []*workInfo
	if p := d.worksPub.Load(); p != nil { // load: pairs with the store in publishWorks
		works = *p
	}
	st.Works = make([]WorkStats, len(works))
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

// add adds one CPU's counters to the totals.
func (s *Stats) add(c *CPUStats) {
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
func (s *slot) stats(c *CPUStats) {
	o, x := &s.ostats, &s.sstats
	*c = CPUStats{
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
	s.owork.latency.load(&c.IPILatency, time.Duration(o.maxIPILatency.Load()))
	c.Refused = c.IPIs + c.OnBehalf
	c.Executed = c.Deferred + o.flushRuns.Load() + c.IPIRuns + c.OnBehalf
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
