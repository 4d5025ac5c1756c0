package ctdefer

import (
	"fmt"
	"time"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Stats counts what happened on one CPU, or in the whole Domain.
//
// Deliveries of the same work that are pending at the same time are merged
// into one execution (as the kernel's work bits are), so counts of executions
// may be lower than counts of Defer calls.
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
	// MaxIPILatency is the worst time observed between an IPI's post and
	// its handling by the CPU (approximate under concurrent posts).
	MaxIPILatency time.Duration
	// IPILatency is the distribution of that time, one sample per IPI
	// claim (posts merged into one claim count once, from the oldest):
	// IPILatency.P50(), P99(); IPILatency.Max equals MaxIPILatency.
	IPILatency LatencyHistogram
	// NoHeadroom counts claims of the CPU that left no GOMAXPROCS headroom:
	// with it, the process's claimed CPUs reached runtime.GOMAXPROCS (see
	// Options.RequireHeadroom).
	NoHeadroom uint64
}

// String formats the counters on one line.
func (s Stats) String() string {
	return fmt.Sprintf("deferred=%d drains=%d flushes=%d ipis=%d ipi-runs=%d ipis-in-user=%d on-behalf=%d refused=%d executed=%d owners-gone=%d max-ipi-latency=%v ipi-latency-p50=%v ipi-latency-p99=%v no-headroom=%d",
		s.Deferred, s.Drains, s.Flushes, s.IPIs, s.IPIRuns, s.IPIsInUser, s.OnBehalf, s.Refused, s.Executed, s.OwnersGone, s.MaxIPILatency,
		s.IPILatency.P50(), s.IPILatency.P99(), s.NoHeadroom)
}

func (s *Stats) add(o Stats) {
	s.Deferred += o.Deferred
	s.Drains += o.Drains
	s.Flushes += o.Flushes
	s.IPIs += o.IPIs
	s.IPIRuns += o.IPIRuns
	s.IPIsInUser += o.IPIsInUser
	s.OnBehalf += o.OnBehalf
	s.Refused += o.Refused
	s.Executed += o.Executed
	s.OwnersGone += o.OwnersGone
	s.MaxIPILatency = max(s.MaxIPILatency, o.MaxIPILatency)
	s.IPILatency.Merge(o.IPILatency)
	s.NoHeadroom += o.NoHeadroom
}

// ownerStats are written only by the CPU's owner (atomically, so that Stats
// may read them from anywhere), on its slow paths: an entry that found work,
// an IPI handled. An entry without work counts nothing. These atomics order
// nothing: they are counters, read for reporting only. The executions by
// work (deferred, by IPI) are in ownerWorkStats (workstats.go).
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

func (s *slot) stats() Stats {
	o, x := &s.ostats, &s.sstats
	st := Stats{
		Deferred:      s.owork.deferred.sum(),
		Drains:        o.drains.Load(),
		Flushes:       o.flushes.Load(),
		IPIs:          x.ipis.Load(),
		IPIRuns:       s.owork.ipiRuns.sum(),
		IPIsInUser:    o.ipisInUser.Load(),
		OnBehalf:      x.onBehalf.Load(),
		OwnersGone:    x.reclaims.Load(),
		MaxIPILatency: time.Duration(o.maxIPILatency.Load()),
		NoHeadroom:    s.swork.noHeadroom.Load(),
	}
	s.owork.latency.load(&st.IPILatency)
	st.IPILatency.Max = st.MaxIPILatency
	st.Refused = st.IPIs + st.OnBehalf
	st.Executed = st.Deferred + o.flushRuns.Load() + st.IPIRuns + st.OnBehalf
	return st
}
