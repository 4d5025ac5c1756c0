// Package ctseq implements the per-CPU context-tracking word: one atomic
// 64-bit value per CPU that packs a sequence counter, the CPU's state
// (Kernel, Idle, User) and its pending work bits.
//
// It is the userspace form of the Linux kernel's context_tracking.state as
// used by Valentin Schneider's IPI-deferral series ("context_tracking,x86:
// Defer some IPIs until a user->kernel transition", LKML, 2023 to 2025): a
// sender that wants a CPU to run some kernel-side work (a cache flush, a
// generation bump) sets a work bit if that CPU is in user mode, and the CPU
// runs the work at its next kernel entry; if the CPU is in the kernel, the
// sender interrupts it instead. Never both, and never neither.
//
// # Use
//
// One [Word] belongs to one CPU (its owner). The owner makes transitions;
// any goroutine may send work or take snapshots.
//
//   - Send: [Word.SetWorkIfUser] sets work bits only while the word is User,
//     with one CAS. It refuses (ok false), having written nothing, if the
//     owner is in the kernel or idle, and returns the word it saw: the
//     caller then interrupts a Kernel owner (an IPI) or wakes an Idle one.
//   - Enter the kernel: [Word.KernelEnter] is one atomic add that returns
//     the work accepted since the previous entry; run it with [Table.Drain].
//   - Return to user: [Word.UserEnter] is one atomic add that also clears
//     the bits the entry claimed. From then on a send succeeds again.
//   - Idle: [Word.IdleEnter] and [Word.IdleExit]. Idle refuses work, like
//     the kernel: the runtime (package [github.com/ctdefer/ctdefer]) wakes a
//     parked CPU, or runs remote-safe work on its behalf.
//   - Nested entries: [Word.Enter] and [Word.Exit], as an interrupt inside
//     kernel code, make no transition.
//   - Grace periods: take a [Word.Snapshot]; later [Word.QuiescentSince]
//     tells whether the owner has been in User or Idle since.
//
// Every owner operation is wait-free: one locked add (LOCK XADD on amd64)
// after at most one load of a line the owner holds, so a burst of senders
// never makes the owner retry, and an entry with work costs what one
// without does. Senders are lock-free.
//
// # Memory ordering
//
// Every access goes through internal/atomicx, whose operations are Go
// atomics: sequentially consistent. The protocol needs less (release and
// acquire on the owner's adds; the senders' first load could be relaxed,
// since the CAS validates it). Each call site says which operation it pairs
// with.
//
// # Sequence wrap and misuse
//
// The sequence has 45 bits (2 under the ctdefer_narrowseq build tag;
// [SeqMask]) and wraps. Wrap can only make QuiescentSince answer "not yet"
// for a word that did move, never "yes" for one that did not; [SeqReached]
// orders two sequences less than half the ring apart. An owner
// transition made from the wrong state panics after undoing its add, and no
// sender's work is accepted and then lost with the undo.
//
// The protocol, every race between two CPUs (the two-atomic race of the LKML
// thread "context-tracking: Introduce work deferral infrastructure" among
// them), the layout and state encoding, and the invariants with their
// arguments (exactly-once claim, delivered by the next entry, clean refusal,
// claimed bits are cleared by the exit, the sequence always advances, a
// kernel stretch is never quiescent, wrap only delays, misuse loses no
// delivery): docs/design/word.md.
package ctseq
