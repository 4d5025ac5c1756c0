package percpu

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Waiter waits for a condition the way HotSpot does: it spins, checking the
// condition, for Spin, then sleeps with an interval that doubles from a
// microsecond to a millisecond, checking it after every sleep. The zero
// Waiter does not spin and has no limit besides its context's.
type Waiter struct {
	// Spin is how long to spin before the first sleep; 0 or less: none.
	Spin time.Duration
	// Yield makes the spin yield the processor (runtime.Gosched) after
	// each round of checks. Ordinary goroutines yield: the CPUs they wait
	// for may need a P to make progress. A goroutine locked to a pinned
	// thread must not: Gosched hands the thread's P to other threads,
	// which may then run on the very CPUs the caller tries not to disturb.
	Yield bool
	// Timeout, if positive, ends the wait that long after its start with
	// ErrTimeout (the context's own deadline, if earlier, ends it first).
	Timeout time.Duration
	// LongSleep, if set, is called before each sleep of the full
	// millisecond, with their count (1, 2, …): a hook for slow-path
	// checks. If it reports true the condition is checked again at once.
	LongSleep func(n int) bool
}

// ErrTimeout is Until's error when Waiter.Timeout ends the wait.
var ErrTimeout = errors.New("percpu: wait timed out")

// spinRound is the number of checks of the condition between two looks at
// the clock and the context (and two yields) in the spin.
const spinRound = 16

// Until calls done until it reports true and returns nil, or returns when
// the wait ends first: ctx's error (context.DeadlineExceeded as soon as
// ctx's deadline has passed, even a hair before ctx notices), or
// ErrTimeout. done is checked once more when the wait ends, so a condition
// that holds by then is not reported as a failure. Callers check done once
// themselves first, if they want the common case to skip the set-up.
//
// A thread of the interleaving explorer hands the whole wait to the
// explorer instead (atomicx.Await, false in normal builds): a blocking step
// that ends when done holds, not an unbounded number of polls. A wait with a
// deadline (ctx's, or Timeout) is handed over as a timed wait
// (atomicx.AwaitTimed): an exploration that models time may end it at any
// step at which done does not hold, with the error the deadline gives
// (context.DeadlineExceeded if ctx has one, else ErrTimeout), which
// explores every point at which the timeout could fire.
//
// ctx is honoured in both phases: each round of the spin looks at the
// clock and at ctx.Err() (one atomic load for the standard library's
// contexts), so the spin ends within a round of ctx's end, and every sleep
// selects on ctx.Done() and lasts at most a millisecond, never past the
// deadline. A wait whose ctx has no done channel (context.Background, or a
// context.WithoutCancel) allocates nothing, even when it sleeps; otherwise
// the first sleep allocates a timer (and ctx's done channel, for a
// cancelable context).
func (w Waiter) Until(ctx context.Context, done func() bool) error {
	ctxDeadline, hasCtxDeadline := ctx.Deadline()
	if handled, expired := w.explored(done, hasCtxDeadline); handled {
		switch {
		case !expired:
			return nil
		case hasCtxDeadline:
			return context.DeadlineExceeded
		}
		return ErrTimeout
	}
	start := time.Now()
	spinEnd := start.Add(w.Spin)
	var deadline time.Time // zero: none
	if w.Timeout > 0 {
		deadline = start.Add(w.Timeout)
	}
	if hasCtxDeadline && (deadline.IsZero() || ctxDeadline.Before(deadline)) {
		deadline = ctxDeadline
	}
	var timer *time.Timer
	sleep, long := time.Duration(0), 0
	for {
		now := time.Now()
		err := ctx.Err()
		if err == nil && !deadline.IsZero() && !now.Before(deadline) {
			err = ErrTimeout
			if hasCtxDeadline && !now.Before(ctxDeadline) {
				err = context.DeadlineExceeded
			}
		}
		if err != nil {
			if done() {
				return nil
			}
			return err
		}
		if now.Before(spinEnd) {
			for range spinRound {
				if done() {
					return nil
				}
			}
			if w.Yield {
				runtime.Gosched()
			}
			continue
		}
		if done() {
			return nil
		}
		sleep = min(max(2*sleep, time.Microsecond), time.Millisecond)
		if !deadline.IsZero() {
			sleep = min(sleep, deadline.Sub(now))
		}
		if sleep == time.Millisecond && w.LongSleep != nil {
			if long++; w.LongSleep(long) {
				continue
			}
		}
		cancel := ctx.Done()
		if cancel == nil {
			// Nothing to watch but the clock (context.Background and
			// the like): sleep on the goroutine's own runtime timer,
			// which allocates nothing.
			time.Sleep(sleep)
			continue
		}
		if timer == nil {
			timer = time.NewTimer(sleep)
			defer timer.Stop()
		} else {
			timer.Reset(sleep)
		}
		select {
		case <-cancel:
		case <-timer.C:
		}
	}
}

// explored hands the wait to the interleaving explorer, as a timed wait if
// a deadline can end it; handled is false outside explorations (always, in
// normal builds, where both calls are constant false).
func (w Waiter) explored(done func() bool, hasCtxDeadline bool) (handled, expired bool) {
	if w.Timeout > 0 || hasCtxDeadline {
		return atomicx.AwaitTimed(done)
	}
	return atomicx.Await(done), false
}
