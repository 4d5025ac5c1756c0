package grace

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The expedited barrier: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) for the
// CPUs of a Domain, with the rule for which CPUs may be skipped that
// Nicholas Piggin states in the LKML thread "x86: use exit_lazy_tlb rather
// than membarrier_mm_sync_core_before_usermode" (July 2020).
//
//  1. The caller takes a new generation g (an atomic add on the Domain's
//     statistics line; it doubles as the barrier count).
//  2. For each CPU, it loads the claimed flag (unclaimed: skipped, nothing
//     runs there) and then the word, once (Snapshot).
//     a. User or Idle: skipped, no IPI, no write to any line of the CPU.
//     b. Kernel: the caller raises the CPU's request to g (CAS max) and
//     posts the barrier work with ctdefer's Defer: an IPI (mailbox CAS),
//     run at the CPU's next poll point; run on the caller itself if the
//     CPU has parked meanwhile (RemoteSafe: inside a kernel stretch of the
//     CPU's word, IdleExit and IdleEnter around the handler); deferred to
//     the CPU's next kernel entry if it has returned to user mode
//     meanwhile. If Defer fails, the ctdefer.Domain is closing: nothing is
//     posted, but the CPU may still be claimed and inside its stretch, so
//     it is waited for all the same (step 3), by its word or its release.
//  3. The caller waits until each CPU of 2b has acknowledged g (the handler
//     stores the request it finds), or is quiescent since the snapshot
//     (QuiescentSince: in user mode or idle now, or its sequence moved: a
//     transition or a Quiesce), or is no longer claimed.
//
// The cost: with every CPU in user mode or idle, two loads per CPU (the
// claimed flag, on a read-mostly line, and the word) and one atomic add on
// the Domain's own statistics line. Per CPU in the kernel, add the CAS on
// its request word, Defer's CAS on its mailbox, an add on the IPI count, and
// the wait for its poll point.
//
// Why skipping a CPU seen in user mode or idle is sound (Nicholas Piggin's
// argument in that thread: the skip is sound only if the skipped CPU is
// guaranteed to execute a barrier before it runs the code that matters
// again, and the comments must say which accesses each barrier orders).
// Here the code that matters is kernel-mode code: the runtime's own code,
// which is what this barrier orders; user-mode code is the application's hot
// loop, which a Go runtime cannot interrupt at an arbitrary instruction
// anyway. Kernel-mode code of a CPU runs on its owner, or, while the owner
// is parked, on a borrower that runs a RemoteSafe handler on its behalf
// (the thread's kthread case): ctdefer makes the borrower enter a kernel
// stretch of the CPU's word (IdleExit) before the handler and leave it
// (IdleEnter) after, so a borrowed handler is kernel-mode code of the CPU
// like the owner's. A CPU seen in User or Idle:
//
//   - made its last transition (UserEnter or IdleEnter, the owner's or a
//     borrower's) with an atomic add on its word, and the snapshot load of
//     step 2 observed that add (or a later value): everything the CPU did
//     in the kernel before it, a borrowed handler included, happens before
//     the snapshot, hence before the barrier returns;
//   - will make its next transition (KernelEnter, IdleExit by the owner or
//     by a borrower, or the Enter of a Poll that handles an IPI in user
//     mode) with another atomic add on the same word, before any
//     kernel-mode access. That add comes after the snapshot load in the
//     single total order of Go's atomics (the load did not observe it), so
//     every atomic access the CPU makes after it comes after every atomic
//     access the caller made before step 2: they observe the caller's
//     stores. For plain (non-atomic) data, Go requires a happens-before
//     edge, and a load alone publishes nothing: publish such data through
//     an atomic, as Go requires anyway.
//
// A CPU seen in Kernel because a borrower is running a handler on its
// behalf is waited for like any other: the post goes to its mailbox (the
// borrow holds the park), and step 3 ends at the borrower's IdleEnter (the
// word is Idle again, with a new sequence) or at the owner's poll point.
//
// Which accesses each step orders:
//
//   - Step 2's load: the CPU's accesses before its last transition, before
//     the caller's accesses after the load (happens-before: the load
//     observes the add). And, in the total order, the caller's atomics
//     before the load before the CPU's atomics after its next transition.
//   - Step 2b's post (the mailbox CAS, in Defer) and the CPU's claim of it
//     (a CAS that observes the post): the caller's accesses before the post
//     happen before the handler and everything the CPU does after that poll
//     point.
//   - Step 3's load of the acknowledgment, which observes the handler's
//     store: everything the CPU did before that poll point happens before
//     the barrier returns. The same holds through the word's load for a
//     CPU that made a transition instead (the load observes the add), and
//     through the claimed flag for one that was released (Release's store
//     comes after the owner's last access).
//
// So when ExpeditedBarrier returns, every CPU of the Domain has a point P,
// after the call began, such that its accesses before P happen before the
// return and its atomic accesses after P follow the caller's atomic accesses
// before the call: P is its poll point (IPI), its transition, its release,
// or, for a CPU skipped in step 2a, its next transition, which it has not
// reached yet.
//
// What it does not do: wait for kernel stretches to end (that is
// Synchronize), or order user-mode code that runs without poll points.

// ExpeditedBarrier returns once every CPU of the Domain that is in the
// kernel when it is called has executed a poll point (Poll, Checkpoint,
// KernelEnter, UserEnter, the return from Idle) or a transition since, or
// has been released; CPUs in user mode or idle are skipped, without IPI. A
// handler running on behalf of a parked CPU counts as that CPU being in the
// kernel. With every CPU in user mode or idle it costs two loads per CPU and
// one atomic add (see the protocol above, which also says what is ordered).
//
// While the ctdefer.Domain is closing no IPI can be posted; a CPU still in
// its kernel stretch is then waited for until its next transition or its
// Release. If ctx ends first it returns a *StallError naming the CPUs it
// still waits for (StalledCPU.Nudged: whether an IPI was posted to it),
// within about a millisecond of ctx's end. A nil ctx is refused with
// ErrNilArgument. Called by an owner inside a kernel stretch (or a handler
// on its thread), it would wait for its own CPU: it returns an error
// wrapping ctdefer.ErrWouldDeadlock at once. A CPU whose owner exited
// without Release is taken back while the barrier waits for it.
func (g *Domain) ExpeditedBarrier(ctx context.Context) error {
	if ctx == nil {
		return nilContext("ExpeditedBarrier")
	}
	gen := g.bgen.Inc() // RMW: step 1; generations are unique
	// The wait list, sized for every CPU of the Domain when the Domain was
	// created: no allocation, whatever the number of CPUs in the kernel.
	// Concurrent callers after the first take lists from a pool.
	sc := g.scratch()
	defer g.putScratch(sc)
	wait, snaps, posted := sc.wait[:0], sc.snaps[:0], sc.posted[:0]
	for i, cpu := range g.cpus.List() {
		// load (claimed): pairs with the CAS in Claim and the store in
		// Release. load (the word): step 2, pairs with the CPU's
		// transition adds.
		snap, claimed := g.d.Observe(cpu)
		if !claimed || snap.Quiescent() {
			continue // unclaimed, or step 2a
		}
		st := &g.per[i]
		for r := st.breq.Load(); r < gen; r = st.breq.Load() { // load: first guess for the CAS
			// CAS: raise the request; the handler's load pairs with it
			// through the post below.
			if st.breq.CompareAndSwap(r, gen) {
				break
			}
		}
		// The only error is ErrClosed (the CPU and the work are the
		// Domain's own): the ctdefer.Domain is closing and its owners are
		// releasing, but this one may still be inside its stretch. Keep it:
		// step 3 waits for its transition or its release instead.
		_, err := g.d.Defer(cpu, g.work)
		if err == nil {
			g.bIPIs.Inc()
		}
		wait, snaps, posted = append(wait, int32(i)), append(snaps, snap), append(posted, err == nil)
	}
	done := func() bool { // step 3
		for k := 0; k < len(wait); {
			i := wait[k]
			cpu := g.cpus.List()[i]
			// load: pairs with the handler's store of the acknowledgment.
			// QuiescentSince: pairs with the CPU's transition or Quiesce
			// add. claimed: pairs with Release's store.
			if g.per[i].back.Load() >= gen || g.d.QuiescentSince(cpu, snaps[k]) || !g.d.Claimed(cpu) {
				last := len(wait) - 1
				wait[k], snaps[k], posted[k] = wait[last], snaps[last], posted[last]
				wait, snaps, posted = wait[:last], snaps[:last], posted[:last]
				continue
			}
			k++
		}
		return len(wait) == 0
	}
	if done() {
		return nil
	}
	// The caller's own CPU, in the kernel and waited for: only the caller
	// can acknowledge the IPI or make the transition.
	if self := g.selfCPU(); self >= 0 && slices.Contains(wait, int32(self)) {
		return fmt.Errorf("grace: ExpeditedBarrier: %w", g.selfWaitError(self))
	}
	start := time.Now()
	reap := func(n int) bool { // the slow path: CPUs whose owner exited
		reaped := false
		for _, i := range wait {
			reaped = n%reapEvery == 0 && g.reap(n, int(i)) || reaped
		}
		return reaped
	}
	if err := g.await(ctx, done, reap); err != nil {
		e := &StallError{Op: "ExpeditedBarrier", Waited: time.Since(start), Err: err}
		for k, i := range wait {
			// Handled is false by construction: a handled barrier IPI
			// acknowledges the generation and ends the wait for the CPU.
			e.CPUs = append(e.CPUs, g.stalled(g.cpus.List()[i], snaps[k].Seq(), posted[k], false))
		}
		logStall(g.log, "ExpeditedBarrier", e)
		return e
	}
	return nil
}

// barrierScratch is one ExpeditedBarrier's wait list: the CPUs it waits for,
// their snapshots, and whether an IPI was posted to each.
type barrierScratch struct {
	wait   []int32
	snaps  []ctseq.Snapshot
	posted []bool
}

func newBarrierScratch(n int) *barrierScratch {
	return &barrierScratch{wait: make([]int32, 0, n), snaps: make([]ctseq.Snapshot, 0, n), posted: make([]bool, 0, n)}
}

// scratch returns a wait list with room for every CPU of the Domain: the
// Domain's own if no other barrier holds it, else one from the pool.
func (g *Domain) scratch() *barrierScratch {
	if g.bmu.TryLock() {
		return g.bown
	}
	if sc, ok := g.barriers.Get().(*barrierScratch); ok {
		return sc
	}
	return newBarrierScratch(g.cpus.Len())
}

// putScratch gives a wait list back.
func (g *Domain) putScratch(sc *barrierScratch) {
	if sc == g.bown {
		g.bmu.Unlock()
		return
	}
	g.barriers.Put(sc)
}
