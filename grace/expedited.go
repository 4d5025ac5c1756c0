package grace

import (
	"context"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The expedited barrier: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) for the
// CPUs of a Domain, with seed 002's rule for which CPUs may be skipped.
//
//  1. The caller takes a new generation g (an atomic add).
//  2. For each claimed CPU, it loads the word once (Snapshot).
//     a. User or Idle: skipped, no IPI, no write to any line of the CPU.
//     b. Kernel: the caller raises the CPU's request to g (CAS max) and
//     posts the barrier work with ctdefer's Defer: an IPI (mailbox CAS),
//     run at the CPU's next poll point; run on the caller itself if the
//     CPU has parked meanwhile (RemoteSafe); deferred to the CPU's next
//     kernel entry if it has returned to user mode meanwhile.
//  3. The caller waits until each CPU of 2b has acknowledged g (the handler
//     stores the request it finds), or has moved its sequence since the
//     snapshot (a transition or a Quiesce), or is no longer claimed.
//
// Why skipping a CPU seen in user mode or idle is sound (Nick Piggin's
// argument in seed 002: the skip is sound only if the skipped CPU is
// guaranteed to execute a barrier before it runs the code that matters
// again, and the comments must say which accesses each barrier orders).
// Here the code that matters is kernel-mode code: the runtime's own code,
// which is what this barrier orders; user-mode code is the application's hot
// loop, which a Go runtime cannot interrupt at an arbitrary instruction
// anyway. A CPU seen in User or Idle:
//
//   - made its last transition (UserEnter or IdleEnter) with an atomic add
//     on its word, and the snapshot load of step 2 observed that add (or a
//     later value): everything the CPU did in the kernel before it happens
//     before the snapshot, hence before the barrier returns;
//   - will make its next transition (KernelEnter, IdleExit, or the Enter of
//     a Poll that handles an IPI in user mode) with another atomic add on
//     the same word, before any kernel-mode access. That add comes after
//     the snapshot load in the single total order of Go's atomics (the load
//     did not observe it), so every atomic access the CPU makes after it
//     comes after every atomic access the caller made before step 2: they
//     observe the caller's stores. For plain (non-atomic) data, Go requires
//     a happens-before edge, and a load alone publishes nothing: publish
//     such data through an atomic, as Go requires anyway.
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
//     the barrier returns. The same holds through the sequence load for a
//     CPU that made a transition instead (the load observes the add), and
//     through the claimed flag for one that was released.
//
// So when ExpeditedBarrier returns, every CPU of the Domain has a point P,
// after the call began, such that its accesses before P happen before the
// return and its atomic accesses after P follow the caller's atomic accesses
// before the call: P is its poll point (IPI), its transition, or, for a CPU
// skipped in step 2a, its next transition, which it has not reached yet.
//
// What it does not do: wait for kernel stretches to end (that is
// Synchronize), or order user-mode code that runs without poll points.

// ExpeditedBarrier returns once every CPU of the Domain that is in the
// kernel when it is called has executed a poll point (Poll, Checkpoint,
// KernelEnter, UserEnter, the return from Idle) or a transition since; CPUs
// in user mode or idle are skipped, without IPI. It costs one load per CPU
// when every CPU is in user mode or idle. If ctx ends first it returns a
// *StallError naming the CPUs that did not poll. See the protocol above for
// what is ordered.
func (g *Domain) ExpeditedBarrier(ctx context.Context) error {
	gen := g.bgen.Inc() // RMW: step 1; generations are unique
	g.barriers.Inc()
	// Most domains are small: keep the wait list on the stack.
	var ibuf [16]int32
	var sbuf [16]ctseq.Snapshot
	wait, snaps := ibuf[:0], sbuf[:0]
	for i, cpu := range g.cpus {
		if !g.claimed(cpu) {
			continue
		}
		snap, _ := g.d.Snapshot(cpu) // load: step 2, pairs with the CPU's transition adds
		if snap.Quiescent() {
			continue // step 2a
		}
		st := &g.per[i]
		for r := st.breq.Load(); r < gen; r = st.breq.Load() { // load: first guess for the CAS
			// CAS: raise the request; the handler's load pairs with it
			// through the post below.
			if st.breq.CompareAndSwap(r, gen) {
				break
			}
		}
		if _, err := g.d.Defer(cpu, g.work); err != nil {
			continue // the ctdefer.Domain is closing: its CPUs are released
		}
		g.bIPIs.Inc()
		wait, snaps = append(wait, int32(i)), append(snaps, snap)
	}
	done := func() bool { // step 3
		for k := 0; k < len(wait); {
			i := wait[k]
			cpu := g.cpus[i]
			// load: pairs with the handler's store of the acknowledgment.
			if g.per[i].back.Load() >= gen || g.d.QuiescentSince(cpu, snaps[k]) || !g.claimed(cpu) {
				last := len(wait) - 1
				wait[k], snaps[k] = wait[last], snaps[last]
				wait, snaps = wait[:last], snaps[:last]
				continue
			}
			k++
		}
		return len(wait) == 0
	}
	if done() {
		return nil
	}
	start := time.Now()
	if err := await(ctx, g.spin, done); err != nil {
		e := &StallError{Op: "ExpeditedBarrier", Waited: time.Since(start), Err: err}
		for k, i := range wait {
			e.CPUs = append(e.CPUs, g.stalled(g.cpus[i], snaps[k].Seq(), true, false))
		}
		return e
	}
	return nil
}
