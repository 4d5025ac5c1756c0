// Package stats holds the statistics of package ctdefer: the snapshot a
// ctdefer.Domain's Stats method returns (Snapshot, with one CPU per CPU and
// one Work per registered work) and the latency Histogram it and
// cmd/ctdefer's benchmarks record durations in. The types are plain data:
// reading a Snapshot never disturbs the CPUs it describes.
package stats

import "time"

// Snapshot is a snapshot of a ctdefer.Domain's statistics (ctdefer.Domain.Stats): its
// counters summed over every CPU, each CPU's own (CPUs) and each registered
// work's (Works).
//
// Deliveries of the same work that are pending at the same time are merged
// into one execution (as the kernel's work bits are), so counts of executions
// may be lower than counts of Defer calls.
//
// Each counter is read atomically; the whole is not a snapshot of one
// instant (counters move while it is read). It encodes to JSON with the
// field names (durations in nanoseconds, a Histogram as its summary and
// non-empty buckets), so that one line serves it, live, on expvar's
// /debug/vars with the rest of the process's statistics:
//
//	expvar.Publish("ctdefer", expvar.Func(func() any { return d.Stats() }))
//
// (expvar.Publish panics if the name is taken: one name per Domain. The
// package does not import expvar itself, which would register its HTTP
// handler in every program that imports ctdefer.)
type Snapshot struct {
	// Deferred counts work executions that were deferred: accepted while
	// the CPU was in user mode and run at its next kernel entry.
	Deferred uint64
	// Drains counts kernel entries that found deferred work.
	Drains uint64
	// Flushes counts kernel entries that ran every registered work because
	// the CPU was claimed with ctdefer.FlushOnEntry.
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
	// the runtime took back (see ctdefer.ErrOwnerGone).
	OwnersGone uint64
	// NoHeadroom counts claims of the CPU that left no GOMAXPROCS headroom:
	// with it, the process's claimed CPUs reached runtime.GOMAXPROCS (see
	// ctdefer.Options.RequireHeadroom).
	NoHeadroom uint64
	// GCCycles and GCPauses are the Go runtime's own interruptions of every
	// worker, process-wide since the program started: completed garbage
	// collection cycles, and the total time the world was stopped for them
	// (runtime/metrics' /gc/cycles/total:gc-cycles and
	// /sched/pauses/total/gc:seconds, the latter summed from its histogram:
	// within its buckets' width). Each stop halts every hot loop. Take two
	// snapshots and subtract for an interval; each CPU's owner thread has
	// its own counts (CPU.OwnerVoluntarySwitches and
	// CPU.OwnerInvoluntarySwitches).
	GCCycles uint64
	GCPauses time.Duration
	// GOMAXPROCS is runtime.GOMAXPROCS(0) when the snapshot was taken, and
	// ProcessClaims the CPUs claimed in the whole process then, across
	// Domains: each running worker holds one of the GOMAXPROCS Ps, so
	// ProcessClaims >= GOMAXPROCS leaves none for the program's other
	// goroutines (see NoHeadroom).
	GOMAXPROCS    int
	ProcessClaims int
	// RequireHeadroom reports whether the Domain refuses a Claim that
	// would leave no headroom (ctdefer.Options.RequireHeadroom). By
	// default it does not: the claim succeeds and is counted in NoHeadroom
	// and logged.
	RequireHeadroom bool
	// IPILatency is the distribution of the time between an IPI's post
	// and its handling by the CPU: one sample per IPI claim (posts merged
	// into one claim count once, from the oldest). Its Quantile(1) is the
	// worst time observed (approximate under concurrent posts). The CPUs
	// count it by power of two: a quantile is the upper bound of the power
	// of two that holds it, an overestimate by less than a factor of two.
	IPILatency Histogram

	// CPUs holds each CPU's statistics, in the Domain's CPU order
	// (Domain.CPUs).
	CPUs []CPU
	// Works holds each registered work's counters, in registration order.
	Works []Work
}

// CPU is one CPU's entry in a Snapshot: which CPU, its state when read,
// and its counters, which mean what Snapshot's fields of the same names mean,
// for this CPU alone.
type CPU struct {
	// CPU is the CPU's number.
	CPU int
	// Claimed reports whether a worker held the CPU (Claim without Release).
	Claimed bool
	// State is its context-tracking state: "user", "kernel" or "idle".
	State string

	// OwnerVoluntarySwitches and OwnerInvoluntarySwitches are the context
	// switches of the owner's thread since it started, read from Linux's
	// /proc/self/task/<tid>/status when the snapshot is taken (zero for a
	// CPU no worker holds, or off Linux). Voluntary ones are the Go
	// runtime's noise on a pinned worker: each is the thread going to sleep,
	// as when its goroutine is preempted (a SIGURG, or a cooperative
	// preemption) and the locked thread waits to be handed its goroutine
	// back, or when it blocks. Involuntary ones are the kernel taking the
	// CPU from it: another thread, an expired time slice. Subtract two
	// snapshots for an interval: on a quiet core both stay flat. Reading
	// them costs a file read per claimed CPU, and only when Stats is called.
	OwnerVoluntarySwitches   uint64
	OwnerInvoluntarySwitches uint64

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

// Work is one registered work's entry in a Snapshot: what happened to it,
// summed over the CPUs of its Domain.
//
// As in Snapshot, deliveries of the work to one CPU pending at the same time
// are merged into one execution, so the execution counts may be lower than
// the number of Defer calls.
type Work struct {
	// Name is the work's name (ctdefer.Work.String).
	Name string
	// Deferred counts executions that were deferred: accepted while the
	// CPU was in user mode and run at its next kernel entry.
	Deferred uint64
	// IPIs counts IPIs posted for the work: deliveries the CPU's word
	// refused (it was in the kernel or idle), or sent by ctdefer.Domain.IPI.
	IPIs uint64
	// IPIRuns counts executions delivered by IPI.
	IPIRuns uint64
	// OnBehalf counts executions of ctdefer.RemoteSafe work by a sender while the
	// CPU was parked (or by Close, for a CPU no worker held).
	OnBehalf uint64
	// Flushed counts executions at the kernel entries of CPUs claimed with
	// ctdefer.FlushOnEntry, which run every registered work each time.
	Flushed uint64
	// Runs counts every execution: Deferred + IPIRuns + OnBehalf + Flushed.
	Runs uint64
}
