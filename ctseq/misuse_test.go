package ctseq_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// TestMisuseNeverLosesWork (issue 9, item 5): an owner that misuses its word
// (a transition from the wrong state, which panics) must never make a
// sender's accepted work vanish. The owner cycles Kernel -> User -> Kernel ->
// Idle -> Kernel and, in every state, also calls each transition that is
// wrong there, recovering the panic; senders meanwhile call SetWorkIfUser
// without pause, each on its own bits, in turn (counting the refusals decided
// on a Transient word, the misuse windows hit). A sender sends a bit again
// only once the owner has claimed it, so each acceptance must be matched by
// exactly one claim: accepted[b] == claimed[b] at the end, when the owner
// stops in Kernel after an IdleExit. A bit still unclaimed two owner cycles
// after its acceptance is lost (the owner claims it before the end of the
// cycle it was accepted in) and fails the test at once.
//
// Before the state encoding (misuse loses no delivery, word.md), a KernelEnter in Kernel borrowed
// through the work bits (and an IdleEnter in Idle made User): between the add
// and its undo the word read as User, a sender's CAS succeeded, and the undo
// wiped the bit (the sender counted it accepted, no entry ever returned it).
// Mutants caught: none.
func TestMisuseNeverLosesWork(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2: the misuse window is a few instructions wide")
	}
	duration := 500 * time.Millisecond
	if testing.Short() {
		duration = 200 * time.Millisecond
	}
	senders := min(4, runtime.GOMAXPROCS(0)-1) // one P for the owner
	var (
		w        ctseq.Word
		stop     atomic.Bool
		accepted [ctseq.WorkBits]atomic.Int64 // by the bit's sender, after SetWorkIfUser accepted it
		claimed  [ctseq.WorkBits]atomic.Int64 // by the owner, for each bit an entry returned
		misuses  int64                        // owner only: panics recovered
		cycles   atomic.Int64                 // owner cycles completed
		lost     atomic.Int64                 // acceptances a sender saw go unclaimed
		windows  atomic.Int64                 // refusals decided on a Transient word (a misuse window)
		wg       sync.WaitGroup
	)
	claim := func(work ctseq.Work) {
		for b := 0; b < ctseq.WorkBits; b++ {
			if work.Has(b) {
				claimed[b].Add(1)
			}
		}
	}
	// misuse calls a transition that is wrong in the owner's current state
	// and checks that it panicked.
	misuse := func(f func()) {
		defer func() {
			if r := recover(); r == nil {
				panic("misuse: the transition did not panic")
			}
			misuses++
		}()
		f()
	}
	userEnter := func() { w.UserEnter() }
	kernelEnter := func() { claim(w.KernelEnter()) }
	idleEnter := func() { w.IdleEnter() }
	idleExit := func() { claim(w.IdleExit()) }
	quiesce := func() { w.Quiesce() }

	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Sender s owns bits s, s+senders, s+2*senders, ...; for each,
			// the claims it expects (its acceptances) and the owner cycle
			// seen after the last acceptance.
			var (
				mine []int
				want [ctseq.WorkBits]int64
				at   [ctseq.WorkBits]int64
			)
			for b := s; b < ctseq.WorkBits; b += senders {
				mine = append(mine, int(b))
			}
			for !stop.Load() {
				idle := true
				for _, b := range mine {
					if claimed[b].Load() < want[b] {
						// Outstanding. The owner claims it before it
						// completes the cycle it was accepted in: one
						// unclaimed two cycles later never will be.
						if cycles.Load() >= at[b]+2 && claimed[b].Load() < want[b] {
							lost.Add(1)
							stop.Store(true) // fail fast
							return
						}
						continue
					}
					idle = false
					// Refused: the caller would send an IPI; try again.
					snap, ok := w.SetWorkIfUser(ctseq.Of(b))
					if ok {
						accepted[b].Add(1)
						want[b]++
						at[b] = cycles.Load()
					} else if st := snap.State(); st != ctseq.Kernel && st != ctseq.Idle {
						windows.Add(1)
					}
				}
				if idle {
					runtime.Gosched() // every bit outstanding
				}
			}
		}()
	}

	deadline := time.Now().Add(duration)
	for i := 0; ; i++ {
		// Kernel.
		misuse(kernelEnter) // the lossy one before the fix
		misuse(idleExit)
		if stop.Load() || i%64 == 0 && time.Now().After(deadline) {
			break
		}
		w.UserEnter()
		// User: senders are accepted from here until KernelEnter.
		misuse(userEnter)
		misuse(idleEnter)
		misuse(idleExit)
		misuse(quiesce) // legal delta, wrong state: the word stays User
		kernelEnter()
		// Kernel again.
		misuse(kernelEnter)
		w.IdleEnter()
		// Idle.
		misuse(userEnter)
		misuse(kernelEnter)
		misuse(idleEnter)
		misuse(quiesce)
		idleExit()
		cycles.Add(1)
	}
	// The owner stops in Kernel, right after an IdleExit: every bit
	// accepted so far has been claimed, and no sender can be accepted any
	// more.
	stop.Store(true)
	wg.Wait()
	require.Positive(t, misuses, "the owner must have misused the word")
	require.Zero(t, lost.Load(), "acceptances never claimed: work vanished across a misuse")
	s := w.Snapshot()
	require.Equal(t, ctseq.Kernel, s.State(), "the owner ends in Kernel")
	require.Zero(t, s.Work(), "the owner ends with no work pending")
	var total int64
	for b := range ctseq.WorkBits {
		a, c := accepted[b].Load(), claimed[b].Load()
		total += a
		require.Equal(t, a, c, "bit %d: accepted %d times, claimed %d times: work vanished (or appeared) across a misuse", b, a, c)
	}
	t.Logf("%d misuses, %d refusals in a misuse window, %d acceptances, all claimed once", misuses, windows.Load(), total)
}
