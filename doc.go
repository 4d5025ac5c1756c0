// Package ctdefer brings the Linux kernel's per-CPU work deferral to Go
// runtimes that run one worker per core: packet loops on isolated cores,
// per-core schedulers, thread-per-core databases, userspace kernels.
//
// # The model
//
// A CPU is a worker goroutine locked to an OS thread that is pinned to one
// core ([Domain.Claim]). At any instant it is in one of three states, kept in
// its context-tracking word (package [ctseq]):
//
//   - user: the application's hot loop, which must not be disturbed;
//   - kernel: the runtime's own code, between a [CPU.KernelEnter] and the
//     next [CPU.UserEnter], where interruptions are cheap;
//   - idle: parked in [CPU.Idle], sleeping on a futex.
//
// Other goroutines deliver work to a CPU with [Domain.Defer]. The work is a
// handler registered in advance ([Domain.Register]): a cache flush, a
// generation bump, anything the CPU must do before it next relies on some
// shared state. If the CPU is in user mode, Defer sets the work's bit in its
// word with one compare-and-swap and returns: the CPU runs the work at its
// next kernel entry, and the hot loop never notices. If the CPU is in the
// kernel, Defer sends an IPI instead: the work goes into the CPU's mailbox
// and the CPU runs it at its next poll point ([CPU.Poll], [CPU.KernelEnter],
// [CPU.UserEnter]), or is woken if it is parked; work registered [RemoteSafe]
// is run by the sender itself on behalf of a parked CPU. The decision and the
// deferral are one atomic step, so each delivery runs exactly once: never
// both deferred and by IPI, never lost.
//
// A Work carries no value: deliveries of one work merge. To hand a CPU
// values ("add this flow", "apply config v42"), a [Queue] is a bounded
// per-CPU ring drained by one registered work ([NewQueue]): [Queue.Send]
// enqueues a batch whole or not at all ([ErrFull]) and delivers it with one
// deferral, and each value runs exactly once, in its sender's order, or is
// handed back with the value.
//
// An IPI is a synchronous cross-CPU call in this model: a mailbox plus a
// wake-up. Go cannot interrupt a running goroutine at an arbitrary
// instruction, so a CPU in a long stretch (user or kernel) calls Poll now and
// then; in user mode an IPI found by Poll interrupts the CPU as a real one
// would (it enters the kernel, runs deferred work and the IPI, and returns).
//
// # Guarantees
//
//   - Exactly once: each delivery runs its handler once, on its CPU (or, for
//     RemoteSafe work and a parked CPU, on the sender, while the CPU cannot
//     run). Deliveries of one work to one CPU pending at the same time are
//     merged into one execution, as the kernel's work bits are.
//   - Timeliness: when [CPU.KernelEnter] returns, every work deferred while
//     the CPU was in user mode has run.
//   - Nothing lost: every delivery either runs or is handed back, never both,
//     and a handed-back delivery is reported. [CPU.Release] runs what is
//     pending (under every policy, even if a handler panics: the CPU is given
//     up first, then the panic continues). [Domain.Close] refuses new work,
//     waits for the workers, and hands back, in an [*UndeliveredError], the
//     IPIs no worker could run; a Close whose context ended is finished by
//     the next one. An owner whose goroutine ends without Release is found on
//     the slow paths (a long DeferWait, Close, a Claim of its CPU): its CPU
//     is taken back and its pending work handed back with [ErrOwnerGone].
//   - Completions are truthful: [Domain.DeferWait], [Domain.Send] and
//     [Domain.IPI] return nil only for work that ran, and an error wrapping
//     the reason ([ErrClosed], [ErrOwnerGone]) only for work that was handed
//     back, even when a neighbouring handler panicked or called
//     runtime.Goexit (the rest of its batch runs first).
//   - Nothing hangs: every wait honours its context in every phase, and a
//     call that would wait for itself (Close from an owner or a handler)
//     returns [ErrWouldDeadlock] at once.
//
// Each pinned worker that spins holds a Go P: give GOMAXPROCS headroom beyond
// the number of workers (host.CheckHeadroom), and use host.Isolate to keep
// the rest of the process off the workers' CPUs. Package host is the host
// set-up below the core: the allowed set, isolation, pinning, headroom and
// the kernel's CPU-list format.
//
// # Platforms
//
// The module builds everywhere Go does, 32-bit and wasm included. Two
// features need Linux: pinning (thread affinity with sched_setaffinity,
// within the allowed CPU set: [New] without Unpinned, [Domain.Claim]) and
// host.Isolate. Elsewhere they return an error wrapping [ErrNotSupported],
// and [Options.Unpinned] runs the same protocol on unpinned threads, for
// tests and development. Parking works everywhere: off Linux a channel
// stands in for the futex.
//
// # The packages
//
//   - [github.com/ctdefer/ctdefer/ctseq]: the per-CPU context-tracking word;
//   - this one: pinned workers, deferral and IPIs, lazy rescheduling,
//     statistics, debugging;
//   - [github.com/ctdefer/ctdefer/lazytlb]: the lazy-TLB state machine and
//     shootdowns;
//   - [github.com/ctdefer/ctdefer/grace]: grace periods and reclamation read
//     off the same words.
//
// The README's "Which package for which problem" says when to use each, and
// what each protects on the read side.
package ctdefer
