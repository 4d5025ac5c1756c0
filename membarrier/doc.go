// Package membarrier wraps the Linux membarrier(2) system call: a
// process-wide memory barrier that the caller pays for, so that the other
// threads need none. It is for runtimes whose readers are outside the Go
// memory model (cgo or assembly code that reads shared data with plain loads
// and only compiler barriers) and for JIT compilers that patch code other
// threads may be running.
//
// Pure Go code does not need it: Go's atomics are sequentially consistent,
// and a plain access racing with a write is a data race whatever barrier
// another thread executes. Within Go, use sync/atomic; use this package
// when one side of the handshake is code the Go compiler does not see.
//
//	if err := membarrier.Register(membarrier.CmdPrivateExpedited); err != nil {
//		return err // errors.Is(err, membarrier.ErrNotSupported): fall back
//	}
//	...
//	publish(newTable)                // the writer's stores
//	err := membarrier.PrivateExpedited()
//	retire(oldTable)                 // no running reader still sees it
//
// # What a barrier orders
//
// Nicholas Piggin asks, in the LKML thread "x86: use exit_lazy_tlb rather
// than membarrier_mm_sync_core_before_usermode" (July 2020), that every
// barrier comment say which memory accesses it orders, not only which barrier
// it pairs with. For [PrivateExpedited], called by thread C while threads
// T1..Tn of the same process may run on other CPUs:
//
//  1. C executes a full barrier on entry (smp_mb in
//     membarrier_private_expedited). It orders C's accesses before the call
//     before C's reads of each CPU's current task (rq->curr), step 2.
//  2. For each CPU whose current task belongs to the process, C sends an
//     IPI and waits for it; the handler executes a full barrier (ipi_mb).
//     It orders what T did before the interrupt, in program order, before
//     what T does after it: T's compiler barriers behave, at that instant,
//     as full barriers.
//  3. A CPU that does not run a thread of the process (idle, a kernel
//     thread, another process) is skipped. Skipping is sound only because
//     such a CPU executes a full barrier between updating rq->curr and
//     running user code of this process again (the scheduler's barriers
//     around the rq->curr store, which step 1's reads pair with), and the
//     thread of ours that ran there before executed one when it was
//     switched out. So the accesses ordered are user-space accesses of the
//     process's threads: those a skipped CPU will make are after C's step 1
//     and those it made are before C's step 4.
//  4. C executes a full barrier before returning. It orders the completion
//     of every IPI of step 2 before C's accesses after the call.
//
// Hence, with "barrier()" a compiler barrier, "smp_mb()" a full fence and
// "membarrier()" this call, every pair that involves membarrier() is
// ordered, and barrier() against barrier() or smp_mb() is not (the table
// in kernel/sched/membarrier.c). ctdefer's own runtime applies the same
// argument to its CPUs: a CPU in user mode or idle is skipped because its
// next kernel entry is an atomic read-modify-write of its context-tracking
// word (see package ctseq).
//
// The commands:
//
//   - [PrivateExpedited] (MEMBARRIER_CMD_PRIVATE_EXPEDITED, Linux 4.14): the
//     barrier above, for the threads of the calling process. About a
//     microsecond plus one IPI per CPU running a thread of the process.
//     Needs [Register] first, else [ErrNotRegistered].
//   - [PrivateExpeditedSyncCore] (…_SYNC_CORE, Linux 4.16, x86, arm64,
//     powerpc and a few others): additionally, every targeted CPU executes a
//     core-serializing instruction before it runs user code again, so no
//     thread executes instructions fetched before the call. This is what
//     cross-modifying code needs: write the new code, call it, then let
//     threads jump to it. The same thread shows why it is subtle on x86: a
//     CPU skipped (step 3 of the list above) must also serialize before
//     returning to user space, which the kernel does at its next exit to
//     user.
//   - [PrivateExpeditedRseq] and [PrivateExpeditedRseqOnCPU] (…_RSEQ, Linux
//     5.10, CONFIG_RSEQ): the barrier, and each targeted thread's rseq
//     critical section, if one is running, is restarted. The OnCPU form
//     sets MEMBARRIER_CMD_FLAG_CPU to target one CPU only: the kernel
//     accepts the flag for this command alone.
//   - [Global] (MEMBARRIER_CMD_GLOBAL, formerly SHARED, Linux 4.3): every
//     running thread of every process, by waiting for an RCU grace period
//     (milliseconds, no IPIs, no registration). Unavailable on kernels
//     booted with nohz_full, whose query omits it.
//
// # Feature detection and errors
//
// [Query] makes MEMBARRIER_CMD_QUERY once per process (sync.Once) and
// caches the answer; the kernel guarantees it does not change until
// reboot. A barrier command makes its system call without consulting the
// cache; only a failure is explained with it. Errors wrap the errno (test
// with errors.Is against syscall.EPERM, syscall.EINVAL) and one of the
// sentinels:
//
//   - [ErrNotSupported]: the OS is not Linux, the kernel lacks membarrier
//     (ENOSYS), or lacks the command (absent from the query). It is the
//     same value as ctdefer.ErrNotSupported.
//   - [ErrNotRegistered]: an expedited command before its registration
//     (EPERM). The message names the Register call to make.
//   - [ErrInvalidCommand]: [Register] of a command that has no
//     registration.
//   - [ErrBadCPU]: a negative CPU, or one the machine cannot have, given
//     to [PrivateExpeditedRseqOnCPU].
//
// Registration is process-wide and permanent: there is no unregister, and
// tests that need an unregistered process re-execute their binary.
//
// All functions are safe for concurrent use, block the calling OS thread
// for the duration of the system call, and build on every platform.
package membarrier
