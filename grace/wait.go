package grace

import (
	"context"
	"runtime"
	"time"
)

// await calls done until it reports true or ctx ends: it spins for spin
// (yielding the processor between rounds: waiters are ordinary goroutines,
// and the CPUs they wait for may need a P to make progress), then sleeps
// with an interval that doubles from a microsecond to a millisecond.
// It returns nil, or ctx.Err() if ctx ended first. Under the interleaving
// explorer (ctdefer_explore builds with SetAwait) it waits with the
// explorer's hook instead.
//
// ctx is honoured in both phases: the spin ends at ctx's deadline if that
// comes first, and every round of it (awaitRound calls of done, then a
// yield) loads ctx.Err(), one atomic load for the standard library's
// contexts, so a cancel or a deadline ends the spin within a round; the
// sleep selects on ctx.Done(). Nothing here allocates until the sleep
// phase, which allocates its timer.
func await(ctx context.Context, spin time.Duration, done func() bool) error {
	if exploreAwait(done) {
		return nil
	}
	if spin > 0 {
		end := time.Now().Add(spin)
		if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
			end = dl // the sleep phase's select sees ctx end
		}
		for time.Now().Before(end) {
			for range awaitRound {
				if done() {
					return nil
				}
			}
			if err := ctx.Err(); err != nil {
				if done() {
					return nil
				}
				return err
			}
			runtime.Gosched()
		}
	}
	sleep := time.Microsecond
	timer := time.NewTimer(sleep)
	defer timer.Stop()
	for {
		if done() {
			return nil
		}
		select {
		case <-ctx.Done():
			if done() {
				return nil
			}
			return ctx.Err()
		case <-timer.C:
		}
		sleep = min(2*sleep, time.Millisecond)
		timer.Reset(sleep)
	}
}

// awaitRound is the number of checks of the condition between two looks at
// the context (and two yields) in await's spin.
const awaitRound = 16
