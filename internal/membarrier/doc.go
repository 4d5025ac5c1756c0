// Package membarrier wraps the private expedited command of the Linux
// membarrier(2) system call: a process-wide memory barrier that the caller
// pays for, so that the other threads need none. It is internal: the ctdefer
// command uses it as a baseline (doctor reports what the kernel supports,
// bench measures the barrier against grace's). The library's own barrier of
// this kind is grace's Domain.ExpeditedBarrier; code that wants the raw
// system call has golang.org/x/sys/unix.
//
//	if err := membarrier.RegisterPrivateExpedited(); err != nil {
//		return err // errors.Is(err, ctdefer.ErrNotSupported): fall back
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
// it pairs with. For [PrivateExpedited] (MEMBARRIER_CMD_PRIVATE_EXPEDITED,
// Linux 4.14), called by thread C while threads T1..Tn of the same process
// may run on other CPUs:
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
// The barrier costs about a microsecond plus one IPI per CPU running a
// thread of the process. It needs [RegisterPrivateExpedited] first; before
// that, the kernel answers EPERM.
//
// # Feature detection and errors
//
// [Query] makes MEMBARRIER_CMD_QUERY once per process (sync.Once) and
// caches the answer; the kernel guarantees it does not change until
// reboot. The barrier makes its system call without consulting the cache;
// only a failure is explained with it. Errors wrap the errno (test with
// errors.Is against syscall.EPERM, syscall.EINVAL) and, when the OS is not
// Linux, the kernel lacks membarrier (ENOSYS) or lacks the command (absent
// from the query), the module's one ErrNotSupported
// (ctdefer.ErrNotSupported). The package has no sentinel of its own.
//
// Registration is process-wide and permanent: there is no unregister, and
// tests that need an unregistered process re-execute their binary.
//
// All functions are safe for concurrent use, block the calling OS thread
// for the duration of the system call, and build on every platform.
package membarrier
