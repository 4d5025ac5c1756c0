// Package lazytlb is the lazy-TLB state machine of Rik van Riel's 2016 patch
// "x86,mm,sched: make lazy TLB mode even lazier" (LKML, August 2016) with the
// generations of today's x86 (arch/x86/mm/tlb.c), for Go runtimes built on
// package [ctdefer].
//
// # The model
//
// An address space ([MM]) is any shared structure whose translations each CPU
// caches privately: a routing table, a userspace kernel's page map, a sharded
// index. Changing it needs a shootdown ([TLB.Shootdown]): every CPU that may
// hold a stale cached translation must flush before the change is done. A CPU
// that switched to other work without dropping the address space (a kernel
// thread borrowing the mm) is lazy ([CPU.EnterLazy]): it need not be
// interrupted, only flush before it uses the address space again (the
// switch back, [CPU.SwitchTo] of the address space it holds lazily).
//
// Each CPU has a state word (Off / OK / Lazy / Flush; [TLB.Stats] and each
// shootdown's [Result] count what the states made it do). A shootdown bumps the MM's generation and,
// for each CPU of the MM's set: OK -> IPI (through [ctdefer.Domain.IPI],
// synchronous: the flush runs on that CPU before the shootdown goes on);
// Lazy -> compare-and-swap to Flush, no IPI; Flush -> nothing. A CPU
// leaving the set ([CPU.Leave]) waits for the IPIs already on their way to
// it, polling, so that none is left waiting for a CPU its owner released.
// The owner's switch back from lazy is one atomic swap to OK, so a
// concurrent Lazy -> Flush is returned to it and never overwritten.
// With the switch back written as the 2016 patch's plain read-then-store, a
// mark landing between the read and the store would be overwritten and the
// flush lost. The handshake, step by step, every racing pair and that
// lost-flush interleaving are written out in docs/design/lazytlb.md. Each
// shootdown returns a [Result] that counts what it did with each CPU;
// [TLB.Stats] sums them, with the owners' flushes.
//
// # Which carries the truth: the Flush state, the generations, or both
//
// Both. The Flush state carries the obligation ("a shootdown that skipped
// this CPU relies on its next switch back"), and it is all a switch back
// reads on its fast path: one swap of the CPU's own cache line. The
// generations carry the measure: how far a flush must go, and whether it is
// still needed; at join and in the IPI handler they are the only truth.
// Why, and how this compares with today's x86: docs/design/lazytlb.md.
//
// # Kernel-range shootdowns
//
// Shootdowns of kernel-range translations ([TLB.ShootdownKernel]),
// used only by kernel-mode code, go through [ctdefer.Domain.Send] instead: a
// CPU in user mode gets a context-tracking work bit and flushes at its next
// kernel entry, before any kernel-mode code, without being interrupted (the
// design of Valentin Schneider's series "context_tracking,x86: Defer some
// IPIs until a user->kernel transition"); the shootdown does not wait for
// that entry, which may be as far off as the CPU's user-mode stretch is long.
// Only the IPIs (CPUs in the kernel or idle) are waited for.
//
// # Integration with package ctdefer
//
// Create the TLB with [New] over a [*ctdefer.Domain] before the first
// [ctdefer.Domain.Claim]: it registers its flush work. Each worker, after
// Claim, takes its owner handle with [TLB.Attach]; the IPI handler runs on
// the worker at its poll points ([ctdefer.CPU.Poll],
// [ctdefer.CPU.KernelEnter], [ctdefer.CPU.UserEnter], [ctdefer.CPU.Idle]), so
// a worker in a long stretch that uses an address space must poll.
// [CPU.Leave] polls through the same [*ctdefer.CPU] while it waits, and must
// come before [ctdefer.CPU.Release]: a CPU released with an address space
// loaded makes shootdowns of it panic, and the next Attach to it too.
// (Inside this module, internal/lazytlbsim plugs another delivery mechanism
// in: the interleaving explorer's mailbox, and benchmarks in which one
// goroutine plays every CPU.)
//
// # Memory ordering
//
// Every cross-CPU word goes through internal/atomicx (Go atomics, which are
// sequentially consistent), so the explorer can interleave them. The
// protocol relies on the total order wherever one side writes then reads
// what the other writes then reads (join against a shootdown, the switch
// back against a mark, Leave against a send), so those loads cannot be
// relaxed. docs/design/lazytlb.md walks through each.
//
// # Zero values, copying, goroutines
//
// The zero TLB, MM and CPU are not usable: make them with [New],
// [TLB.NewMM] and [TLB.Attach] (one handle per claim of a CPU). None may be
// copied (go vet reports copies). TLB methods may be called from any
// goroutine; CPU methods only from the owner of that CPU. Misuse panics
// with "lazytlb: Type.Method: ...": an owner method in the wrong state, an
// Attach or Shootdown that finds a CPU released without Leave. Bad
// arguments give a [*ctdefer.ArgError] (errors.Is [ctdefer.ErrInvalid])
// that names the call, the argument and the reason; the package has no
// sentinel errors of its own.
// On 32-bit platforms the 64-bit atomics are 8-aligned (first in their
// structs, or at a multiple of 8 in an aligned one), per-CPU slots are
// padded to whole cache lines, and an MM's generation has a line of
// padding on each side.
package lazytlb
