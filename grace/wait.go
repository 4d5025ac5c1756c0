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
func await(ctx context.Context, spin time.Duration, done func() bool) error {
	if exploreAwait(done) {
		return nil
	}
	start := time.Now()
	for spin > 0 && time.Since(start) < spin {
		for range 16 {
			if done() {
				return nil
			}
		}
		runtime.Gosched()
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
