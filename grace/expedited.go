package grace

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
)

// ExpeditedBarrier: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) for the
// CPUs of a Domain.
//
// CPUs seen in user mode or idle are skipped: two loads each, no IPI. CPUs
// seen in the kernel get the barrier work through Defer. The barrier waits
// until each of them has acknowledged it at a poll point, made a
// transition, or been released.
//
// The protocol, why the skip is sound (Nicholas Piggin's rule, LKML, July
// 2020), and which accesses each step orders, under the invariant "the
// barrier reaches every kernel-mode CPU": docs/design/grace.md.

// ExpeditedBarrier returns once every CPU of the Domain that is in the
// kernel when it is called has executed a poll point (Poll, Checkpoint,
// KernelEnter, UserEnter, the return from Idle) or a transition since, or
// has been released; CPUs in user mode or idle are skipped, without IPI. A
// handler running on behalf of a parked CPU counts as that CPU being in the
// kernel. With every CPU in user mode or idle it costs two loads per CPU and
// one atomic add (docs/design/grace.md, The expedited barrier, says what is
// ordered).
//
// While the ctdefer.Domain is closing no IPI can be posted; a CPU still in
// its kernel stretch is then waited for until its next transition or its
// Release. If ctx ends first it returns a *StallError naming the CPUs it
// still waits for (StalledCPU.Nudged: whether an IPI was posted to it),
// within about a millisecond of ctx's end. A nil ctx is refused with
// an *ctdefer.ArgError. Called by an owner inside a kernel stretch (or a handler
// on its thread), it would wait for its own CPU: it returns an error
// wrapping ctdefer.ErrWouldDeadlock at once. A CPU whose owner exited
// without Release is taken back while the barrier waits for it.
func (g *stretch) ExpeditedBarrier(ctx context.Context) error {
	if ctx == nil {
		return nilContext("ExpeditedBarrier")
	}
	gen := g.bgen.Inc() // RMW: the barrier's generation; generations are unique
	// The wait list, sized for every CPU of the Domain when the Domain was
	// created: no allocation, whatever the number of CPUs in the kernel.
	// Concurrent callers after the first take lists from a pool.
	sc := g.scratch()
	defer g.putScratch(sc)
	wait, snaps, posted := sc.wait[:0], sc.snaps[:0], sc.posted[:0]
	for i, cpu := range g.cpus.List() {
		// load (claimed): pairs with the CAS in Claim and the store in
		// Release. load (the word): the snapshot, pairs with the CPU's
		// transition adds.
		snap, claimed := g.v.Observe(cpu)
		if !claimed || snap.Quiescent() {
			continue // unclaimed, or in user mode or idle: skipped without IPI
		}
		st := &g.per[i]
		for r := st.breq.Load(); r < gen; r = st.breq.Load() { // load: first guess for the CAS
			// CAS: raise the request; the handler's load pairs with it
			// through the post below.
			if st.breq.CompareAndSwap(r, gen) {
				break
			}
		}
		// The only error is ctdefer.ErrClosed (the CPU and the work are the
		// Domain's own): the ctdefer.Domain is closing and its owners are
		// releasing, but this one may still be inside its stretch. Keep it:
		// the wait below waits for its transition or its release instead.
		_, err := g.d.Defer(cpu, g.work)
		if err == nil {
			g.bIPIs.Inc()
		}
		wait, snaps, posted = append(wait, int32(i)), append(snaps, snap), append(posted, err == nil)
	}
	done := func() bool { // the wait: acknowledged, quiescent since, or released
		for k := 0; k < len(wait); {
			i := wait[k]
			cpu := g.cpus.List()[i]
			// load: pairs with the handler's store of the acknowledgment.
			// QuiescentSince: pairs with the CPU's transition or Quiesce
			// add. claimed: pairs with Release's store.
			if g.per[i].back.Load() >= gen || g.v.QuiescentSince(cpu, snaps[k]) || !g.v.Claimed(cpu) {
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
func (g *stretch) scratch() *barrierScratch {
	if g.bmu.TryLock() {
		return g.bown
	}
	if sc, ok := g.barriers.Get().(*barrierScratch); ok {
		return sc
	}
	return newBarrierScratch(g.cpus.Len())
}

// putScratch gives a wait list back.
func (g *stretch) putScratch(sc *barrierScratch) {
	if sc == g.bown {
		g.bmu.Unlock()
		return
	}
	g.barriers.Put(sc)
}
