package grace_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/grace"
)

// Every wait honours its context in every phase, the spin included: with a
// spin far longer than the context, over a CPU that never reports (claimed,
// spinning in its kernel stretch without Quiesce or Poll), each wait returns
// soon after the context ends, with an error wrapping the context's.
//
// The bounds are generous on purpose, so that a loaded machine makes a wait
// late, never failing: the context ends after 50ms, the waits must return
// within a minute of their start (the spin is ten minutes, so a wait that
// ignores the context in its spin takes ten), and a wait that has not
// returned after three minutes is reported as lost rather than late.
// Mutants caught: none.
func TestWaitHonoursContextDuringSpin(t *testing.T) {
	const (
		spin = 10 * time.Minute
		ctxD = 50 * time.Millisecond
		late = time.Minute
		lost = 3 * time.Minute
	)
	for _, tc := range []struct {
		name string
		wait func(f *fixture, ctx context.Context) error
	}{
		{"Synchronize", func(f *fixture, ctx context.Context) error { return f.g.Synchronize(ctx) }},
		{"Wait", func(f *fixture, ctx context.Context) error { return f.g.Wait(ctx, f.g.Start()) }},
		{"ExpeditedBarrier", func(f *fixture, ctx context.Context) error { return f.g.ExpeditedBarrier(ctx) }},
		{"Close", func(f *fixture, ctx context.Context) error {
			if err := f.g.Retire(func() {}); err != nil {
				return fmt.Errorf("Retire: %w", err)
			}
			return f.g.Close(ctx)
		}},
	} {
		for _, cancel := range []bool{false, true} {
			how := "deadline"
			if cancel {
				how = "cancel"
			}
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				f := newFixture(t, 1, grace.Options{SpinWait: spin, NudgeAfter: -1})
				f.ownerWith(f.cpus[0], modeKernel)
				var ctx context.Context
				var stop context.CancelFunc
				if cancel {
					ctx, stop = context.WithCancel(context.Background())
					timer := time.AfterFunc(ctxD, stop)
					t.Cleanup(func() { timer.Stop() })
				} else {
					ctx, stop = context.WithTimeout(context.Background(), ctxD)
				}
				t.Cleanup(stop)
				start := time.Now()
				done := make(chan error, 1)
				go func() { done <- tc.wait(f, ctx) }()
				var err error
				select {
				case err = <-done:
				case <-time.After(lost):
					t.Fatalf("%s: lost: not returned %v after its context ended", tc.name, lost)
				}
				took := time.Since(start)
				t.Logf("%s returned after %v: %v", tc.name, took, err)
				require.Less(t, took, late, "%s: late: returned %v after its start, its context ended after %v (spin %v)",
					tc.name, took, ctxD, spin)
				want := context.DeadlineExceeded
				if cancel {
					want = context.Canceled
				}
				require.ErrorIs(t, err, want, "%s: the context's error is wrapped", tc.name)
				require.ErrorAs(t, err, new(*grace.StallError), "%s: a stall names the CPUs", tc.name)
				if !cancel {
					require.False(t, errors.Is(err, context.Canceled), "%s: a deadline is not a cancel: %v", tc.name, err)
				}
			})
		}
	}
}
