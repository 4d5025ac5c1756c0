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
// # The protocol
//
// One [Word] belongs to one CPU (its owner). The owner makes transitions;
// any goroutine may send work or take snapshots. The steps are numbered so
// that the rest of this documentation can refer to them:
//
//  1. Send. [Word.SetWorkIfUser] loads the word and, only if its state is
//     User, compare-and-swaps it to the same value with the work bits ORed
//     in. If the state is not User, or becomes something else before the
//     CAS, it returns false having written nothing, and the caller sends an
//     IPI.
//
//  2. Enter the kernel. [Word.KernelEnter] does one atomic add that changes
//     the state from User to Kernel, advances the sequence, and returns the
//     new word, whose work bits are exactly the ones accepted by step 1
//     since the previous entry. The owner then clears those bits (a second
//     add, only if there were any) and runs them with [Table.Drain].
//
//  3. Return to user. [Word.UserEnter] does one atomic add: Kernel to User
//     and the next sequence. From this instant a send (step 1) succeeds
//     again.
//
// Where two CPUs race, and why it is safe:
//
//   - Sender's CAS against the owner's KernelEnter add (the race discussed
//     in the LKML thread "context-tracking: Introduce work deferral
//     infrastructure", July 2023). Both are read-modify-writes of the same
//     word, so one is first. If the CAS is first, the add returns its bits:
//     the work runs deferred, once, and the sender sends no IPI. If the add
//     is first, the CAS expected a User word and fails; the retry sees
//     Kernel and refuses: the work is sent by IPI, once, and nothing was
//     left in the word. In Peter Zijlstra's 2021 design, which that thread
//     rejects, the work lived in a second atomic, ORed in before the CAS on
//     the state word; when that CAS failed the bits stayed behind, and the
//     work ran twice (once deferred, once by IPI). Here the
//     bits and the state are the same word, so that interleaving does not
//     exist. The explorer in package internal/explore checks every
//     interleaving of this race, and a mutant with the two-atomic design is
//     caught.
//
//   - Two senders. Their CASes serialise; the loser retries on the winner's
//     value. A bit already pending in a User word is accepted with a CAS
//     that rewrites the same value: the owner's next entry runs it once for
//     both, and it reads the second sender's write too, so that sender's
//     payload is published as well (a load alone would decide correctly but
//     publish nothing).
//
//   - Owner returns to user after the sender saw it in the kernel. The
//     sender sends an IPI, which now lands in user mode. This race is
//     inherent (the kernel has it too); the runtime counts such IPIs.
//
// # Clearing the bits: on exit, without a CAS loop
//
// The kernel adds on entry and clears the bits on exit with a CAS loop
// (new = (old &^ work) + inc). This package also clears them on exit, but
// without a CAS loop: while the state is not User no sender can set a bit,
// and only the owner clears bits, so the owner's exit (UserEnter or
// IdleEnter) loads the word, whose work field then holds exactly the bits
// its entry returned, and subtracts them in the same add that changes the
// state. Costs, per user/kernel round trip:
//
//	                       no work pending       work pending
//	kernel (add/CAS exit)  add + load + CAS      add + load + CAS
//	CAS loop on entry      add + load + CAS      add + load + CAS
//	ctseq (add, load+add)  add + load + add      add + load + add
//
// Every owner operation is wait-free (a single locked instruction on amd64,
// LOCK XADD, after at most one load of a line the owner holds), so a burst of
// senders can never make the owner retry, and a kernel entry with work costs
// what one without does. Between the entry and the exit, the Kernel word
// still carries the claimed bits; they are no longer pending, and
// [Snapshot.Work] does not report them.
//
// # Idle
//
// Idle refuses work, unlike the kernel's "not RCU-watching" test, which
// accepts it: a parked CPU may stay parked indefinitely, so work left in its
// word could wait forever. The runtime (package
// [github.com/ctdefer/ctdefer]) wakes a parked CPU, or runs work registered
// as safe to run remotely on its behalf.
//
// # Grace periods
//
// The same word answers RCU's question: take a [Word.Snapshot], and later
// [Word.QuiescentSince] tells whether the owner has been in User or Idle
// since: either it was at the snapshot, or the sequence has moved. Nested
// entries ([Word.Enter] and [Word.Exit], as an interrupt inside kernel code)
// make no transition and so never end a grace period early.
//
// # Memory ordering
//
// Every access goes through internal/atomicx, whose operations are Go
// atomics: sequentially consistent. The protocol needs less: the owner's
// transition adds need release (for what it did before) and acquire (for what
// senders did before setting bits), which a full barrier provides, and which
// LOCK-prefixed instructions give anyway on amd64. The senders' initial load
// could be relaxed, since the CAS validates it. Each call site says which
// operation it pairs with.
//
// # Sequence wrap
//
// The sequence has [SeqBits] bits (45; 2 under the ctdefer_narrowseq build
// tag) and wraps: 2^45 transitions take about 9.8 hours at one per
// nanosecond, and a real owner, whose round trip costs some ten nanoseconds,
// makes far fewer. Wrap can only make QuiescentSince answer "not yet" for a
// word that did move (after a multiple of 2^SeqBits transitions) and is in
// the kernel again, never "yes" for one that did not, so a grace period may
// take one more poll but is never cut short. [SeqReached], which the runtime
// uses to wait for a deferred entry, orders two sequences only while they
// are less than 2^(SeqBits-1) (2^44, about 4.9 hours at one transition per
// nanosecond) transitions apart: a waiter compares the sequence the owner
// has drained with the one its work is due at, and looks at least every
// millisecond while it waits, so only a waiter not scheduled for hours could
// be misled, and then it would wait on or time out, never return early.
// The package's tests pass in both builds.
//
// # Misuse
//
// An owner transition made from the wrong state panics, after undoing its
// add. The state field holds an encoding of the state (misuse loses no delivery, docs/design/word.md) under which
// no such faulty add yields a word that a sender accepts, or disturbs the work
// bits: a sender racing with the misuse is refused (and sends an IPI), and no
// accepted work vanishes with the undo.
package ctseq
