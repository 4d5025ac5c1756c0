package percpu_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

// after returns a condition that becomes true d after the call.
func after(d time.Duration) func() bool {
	end := time.Now().Add(d)
	return func() bool { return !time.Now().Before(end) }
}

func never() bool { return false }

// Both phases end as soon as the condition holds.
func TestWaiterUntilDone(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    percpu.Waiter
	}{
		{"spin", percpu.Waiter{Spin: time.Hour}},
		{"spin, yielding", percpu.Waiter{Spin: time.Hour, Yield: true}},
		{"sleep", percpu.Waiter{}},
		{"spin then sleep", percpu.Waiter{Spin: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.w.Until(context.Background(), after(5*time.Millisecond)))
			var n atomic.Int64
			require.NoError(t, tc.w.Until(context.Background(), func() bool { return n.Add(1) >= 3 }))
		})
	}
}

// The context ends the wait in every phase, soon after it ends, with its
// error: the spin (far longer than the context) included. The bounds are
// generous (a loaded machine); a wait that ignores ctx in its spin lasts an
// hour.
func TestWaiterHonoursContext(t *testing.T) {
	const ctxD, late = 20 * time.Millisecond, time.Second
	for _, w := range []percpu.Waiter{{Spin: time.Hour}, {Spin: time.Hour, Yield: true}, {}, {Timeout: time.Hour}} {
		for _, cancel := range []bool{false, true} {
			start := time.Now() // before the context's clock starts
			var ctx context.Context
			var stop context.CancelFunc
			want := context.DeadlineExceeded
			if cancel {
				want = context.Canceled
				ctx, stop = context.WithCancel(context.Background())
				time.AfterFunc(ctxD, stop)
			} else {
				ctx, stop = context.WithTimeout(context.Background(), ctxD)
			}
			err := w.Until(ctx, never)
			took := time.Since(start)
			stop()
			require.ErrorIs(t, err, want, "%+v, cancel %v", w, cancel)
			require.GreaterOrEqual(t, took, ctxD, "%+v: not before the context ends", w)
			require.Less(t, took, late, "%+v, cancel %v: returned %v after its start", w, cancel, took)
		}
	}
}

// Timeout ends the wait with ErrTimeout, unless the context's deadline
// comes first.
func TestWaiterTimeout(t *testing.T) {
	for _, spin := range []time.Duration{0, time.Hour} {
		w := percpu.Waiter{Spin: spin, Timeout: 10 * time.Millisecond}
		start := time.Now()
		require.ErrorIs(t, w.Until(context.Background(), never), percpu.ErrTimeout)
		require.GreaterOrEqual(t, time.Since(start), w.Timeout)

		ctx, stop := context.WithTimeout(context.Background(), time.Millisecond)
		err := w.Until(ctx, never)
		stop()
		require.ErrorIs(t, err, context.DeadlineExceeded, "the context's earlier deadline")
		require.False(t, errors.Is(err, percpu.ErrTimeout))
	}
}

// A condition that holds when the wait ends is a success, not a timeout.
func TestWaiterChecksOnceMoreAtTheEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, percpu.Waiter{}.Until(ctx, func() bool { return ctx.Err() != nil }))
}

// LongSleep runs before each full-millisecond sleep with their count; true
// checks the condition again at once.
func TestWaiterLongSleep(t *testing.T) {
	var counts []int
	var ready atomic.Bool
	w := percpu.Waiter{LongSleep: func(n int) bool {
		counts = append(counts, n)
		if n == 3 {
			ready.Store(true)
			return true
		}
		return false
	}}
	require.NoError(t, w.Until(context.Background(), ready.Load))
	require.Equal(t, []int{1, 2, 3}, counts)
}

// A wait that ends in its spin allocates nothing.
func TestWaiterSpinAllocatesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := percpu.Waiter{Spin: time.Hour}
	n := 0
	done := func() bool { n++; return n%40 == 0 }
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = w.Until(ctx, done) }))
}

// A wait under a context without a done channel allocates nothing even when
// it sleeps: there is nothing to select on, so it sleeps on the runtime's
// own timer. (A busy machine pushes a barrier's wait past its spin; its
// zero-allocation promise must still hold.)
// Mutant caught: waiter-sleep-allocates.
func TestWaiterSleepWithoutDoneChannelAllocatesNothing(t *testing.T) {
	w := percpu.Waiter{} // no spin: the first check that fails sleeps
	n := 0
	done := func() bool { n++; return n%3 == 0 } // two sleeps per wait
	for _, ctx := range []context.Context{context.Background(), context.WithoutCancel(t.Context())} {
		require.Nil(t, ctx.Done())
		before := n
		// The least of three measurements: AllocsPerRun counts the whole
		// process, and a loaded machine may make the runtime allocate on
		// its own account (a new M for a sleeping thread) during one of
		// them; an allocation by every wait shows in all three.
		allocs := testing.AllocsPerRun(20, func() { _ = w.Until(ctx, done) })
		for range 2 {
			allocs = min(allocs, testing.AllocsPerRun(20, func() { _ = w.Until(ctx, done) }))
		}
		require.Zero(t, allocs)
		require.GreaterOrEqual(t, n-before, 3*21*3, "every wait checked three times, sleeping between")
	}
}
