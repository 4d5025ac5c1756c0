// Package grace builds grace periods, deferred reclamation and an expedited
// barrier on a [ctdefer.Domain], from the per-CPU context-tracking words the
// Domain already keeps: the Tasks-RCU idea (a grace period ends once every
// CPU has been in user mode or idle, as discussed in the LKML thread
// "PREEMPT_AUTO: support lazy rescheduling", February 2024) and membarrier's
// rule for skipping CPUs (the LKML thread "x86: use exit_lazy_tlb rather
// than membarrier_mm_sync_core_before_usermode", July 2020), with no cost
// on the read side.
//
// # Two flavours: which one for which reader
//
// The package has one write-side type, [Domain], in three grace-period
// flavours, chosen by the constructor. They differ in who the readers are
// and where they may hold a reference, and so in what a reader must do:
//
//	flavour                 readers hold references            reader's cost                     quiescent states
//	kernel-stretch (New)    inside kernel-mode stretches only  nothing: the transitions it makes  user mode, idle, any transition, Quiesce, Checkpoint
//	QSBR (NewQSBR)          anywhere, user mode included,      one load and one compare per      Reader.Quiescent, Reader.Offline, idle (parked),
//	                        between two reports                report (Reader.Quiescent)          a released CPU
//	memb (NewMemb)          any goroutine, between its         with membarrier(2), plain loads   outside every section (Handle.Unlock)
//	                        Handle's Lock and Unlock           and one plain store per Lock and
//	                        (no ctdefer.Domain, no pinning)    per Unlock; else an atomic store
//
// Use the memb flavour for ordinary Go programs, whose readers are
// goroutines that the scheduler moves between threads (liburcu's memb
// flavour, per Handle rather than per thread): [Domain.Register] gives a
// goroutine its [Handle]. Where membarrier is missing, the read side fences
// instead (Stats.Membarrier says which).
//
// Use the kernel-stretch flavour for runtime-internal data that the runtime reads inside its
// kernel-mode stretches (the kernel's model: Tasks RCU, where user mode is an
// extended quiescent state). Data read in a user-mode hot loop (a routing
// table consulted per packet, a config snapshot per request, a shard map) is
// NOT protected by the kernel-stretch flavour: a grace period completes as soon as the CPU is
// seen in user mode, while the loop may still hold the old object. Use QSBR
// for it (liburcu's QSBR flavour, as Go forwarders such as NDN-DPDK use it
// through cgo): the owner reports Reader.Quiescent once per burst or per
// request where it holds nothing, and goes Offline around blocking work.
// An online reader may itself call Synchronize, Wait or Barrier: as
// liburcu's synchronize_rcu does, the call takes it offline for the wait and
// back online before it returns, so it must hold no reference across it.
// With Options.Debug, Pointer.Load panics when a reader
// breaks its flavour's rule, in the builds that compile that check (go test
// -race, and -tags ctdefer_debug); in a plain build Load is the bare atomic
// load.
//
// Every flavour offers the same write side: Synchronize, Start/Poll/Wait,
// Retire/TryRetire/Barrier, Close and Stats, and a *StallError naming the
// CPUs that hold a grace period up when a context ends. Domain.Checkpoint
// and Domain.ExpeditedBarrier are the kernel-stretch flavour's own,
// Domain.Reader the QSBR flavour's, Domain.Register the memb flavour's:
// called on a Domain of another flavour, each panics with a
// *ctdefer.MisuseError. [Pointer] is the
// published pointer for either (rcu_dereference, rcu_assign_pointer and a
// swap-and-retire).
//
// # Cost model, and when a tree would pay
//
// A grace period over CPUs in user mode or idle reads two words per CPU (its
// claimed flag and its context-tracking word) and writes only the engine's
// own lines: one read-modify-write to start, one store to end. No CPU is
// written to, interrupted or asked to report. On a 256-CPU machine whose
// workers make transitions, each word line is dirty in its CPU's cache, so a
// grace period costs 256 line transfers into the driver's cache. Those are
// loads of independent lines, which the core overlaps (about ten misses in
// flight on current x86 and Arm servers): at 100 to 150 ns per transfer
// within a socket, and twice that across, about 3 to 8 µs per grace period,
// 25 to 40 µs if the misses were serialised. Measured on unpinned simulated
// CPUs, where the lines are not dirty elsewhere, the marginal cost is about
// 4 ns per CPU with no allocation at 64 and at 1,024 CPUs, for Synchronize
// and ExpeditedBarrier alike (BenchmarkSimulatedUser), which is the floor of
// the loop itself; the QSBR flavour reads one line per reader the same way.
//
// A lazytlb Shootdown of lazy CPUs writes one line per CPU (a CAS on its
// state): read-modify-writes of remote lines serialise more than loads, so
// about 256 x 150 ns, 40 µs, on the same machine, still without an IPI; the
// alternative, an IPI per CPU, costs about 1 to 2 µs each on the sender and
// interrupts every target. With the lines local (simulated CPUs, lazytlb's
// BenchmarkShootdownSimulated) the CAS costs about 15 ns per CPU, with no
// allocation, at 64 and at 1,024 CPUs.
//
// The kernel's RCU uses a tree (leaves of 16 CPUs, rcu_node) so that no
// single CPU scans them all: each CPU reports into its leaf, and the last
// reporter of a leaf propagates up. That moves the cost to the readers
// (every CPU writes its leaf once per grace period) to save the driver's
// scan. ctdefer's readers write nothing for grace periods, which is the
// point of reading the context-tracking word, so a tree would pay only when
// one driver's scan becomes the latency that matters: with overlapped misses
// that is about 1,000 x 150 ns / 10, 15 µs at 1,024 CPUs, still ten times
// less than membarrier's IPI round (which interrupts every CPU running the
// process). Below 1,024 CPUs the flat scan wins, so there is no tree. What
// would change the model: CPUs on many sockets with slow links (the
// serialised bound applies), or a driver that must not spend 15 µs per grace
// period (then scan in parallel from several goroutines, one per socket,
// before building a tree).
//
// # The model (the kernel-stretch flavour)
//
// Read-side critical sections are a CPU's kernel-mode stretches: from
// KernelEnter (or the return from Idle) to the next UserEnter (or Idle), on
// its owner; and, while the owner is parked in Idle, a RemoteSafe handler
// that another goroutine runs on the CPU's behalf, which ctdefer brackets
// with IdleExit and IdleEnter on the CPU's word (a borrowed kernel stretch).
// Inside one, the code may load a published pointer and use the object
// without any further ceremony. A CPU passes a quiescent state when it is in
// user mode or idle, when it makes a transition, or when its owner calls
// [Domain.Checkpoint] when a grace period asks (it holds no reference there: RCU's QSBR
// report). Readers pay nothing beyond the transitions they already make.
//
// A grace period ([Domain.Synchronize]) waits until every CPU of the Domain
// has passed a quiescent state since the call began. CPUs in user mode or
// idle are never interrupted and none of their lines is written: two loads
// per CPU (its claimed flag and its word) show it; a CPU seen idle whose
// handler is run on its behalf later is in a kernel stretch that began after
// the grace period did. CPUs in a long kernel stretch are nudged once the
// grace period has waited [Options.NudgeAfter] for them: an IPI whose
// handler asks the owner to report at its next Checkpoint. A CPU that never
// reports makes Synchronize fail, when its context ends, with a
// [*StallError] naming the CPU and what it is doing, rather than hang.
//
// The polling form ([Domain.Start], [Domain.Poll]) is liburcu's
// start_poll_synchronize_rcu and DPDK's QSBR token; concurrent callers share
// grace periods. [Domain.Retire] runs a function after a grace period
// (call_rcu) and [Domain.Barrier] waits for everything retired so far
// (rcu_barrier). [Domain.ExpeditedBarrier] is the membarrier analogue: it
// waits only until every CPU in the kernel (a borrowed handler included) has
// executed a poll point or a transition.
//
// # What is ordered
//
// Go atomics are sequentially consistent: one total order of all of them,
// and an atomic that observes another is synchronized after it. Two
// guarantees follow (grace periods cover what began before):
//
//   - Everything a CPU did before its quiescent state (a transition, a
//     Quiesce, its Release) happens before Synchronize returns.
//   - A reader that enters the kernel after the grace period began sees
//     what the updater stored (atomically) before calling Synchronize.
//
// A reference loaded in a kernel stretch must not be used after the stretch
// ends, nor after Quiesce or Checkpoint: that is the reader's only rule. The
// edges behind each guarantee, step by step, and where weaker ordering
// would do: docs/design/grace.md.
//
// # Who may call what
//
// Any goroutine may call Synchronize, Start, Poll, Wait, Retire,
// Barrier and ExpeditedBarrier, except the owner of a CPU of the Domain inside
// a kernel stretch (or a handler running on its thread): a wait that needs
// that very CPU would wait for its caller. Synchronize, Wait, Barrier and
// ExpeditedBarrier return an error wrapping ctdefer.ErrWouldDeadlock at once
// when they would (as ctdefer's Close does), whatever their context; a wait
// that does not need the caller's CPU (a grace period that began while it
// was in user mode) proceeds. A Retire blocked at MaxPending has no such
// check: use TryRetire, or Start and Poll, there. Checkpoint is for owners,
// with their own *ctdefer.CPU. In the QSBR flavour an online reader must not
// wait at all (its check is Options.Debug's).
//
// # Owners that exit, handles that outlive their claim
//
// An owner whose goroutine ends without Release (it returns, panics or calls
// runtime.Goexit while locked to its thread) leaves its CPU claimed, and in
// whatever state it was: a grace period, a barrier, and a Retire blocked at
// MaxPending would wait for it for good. Every wait of the kernel-stretch and QSBR flavours looks
// for such owners on its slow path, among the CPUs it waits for, every 16
// sleeps of a millisecond (ctdefer's ReapExited, reached through internal/corelink, with a garbage
// collection every 256 where only one can tell), takes their CPUs back (an
// unclaimed CPU holds nothing), and logs each (Options.Logger). Blocked
// Retires and Barrier wait for the reclaimer's grace period, so the
// reclaimer's wait does it for them.
//
// A QSBR reader belongs to the claim it was registered for: Domain.Reader on a
// released handle panics, and a reader left online when its CPU was released
// (Reader.Offline must come first) stops holding grace periods up once
// another owner claims the CPU without registering a reader; the first grace
// period that skips it logs it (Options.Logger).
package grace
