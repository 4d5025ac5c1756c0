package lazytlb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// A Shootdown whose IPI is not handled by the caller's deadline fails with
// an error that wraps context.DeadlineExceeded; one that runs out of the
// Domain's own Options.IPITimeout, with no deadline in its context, wraps
// ctdefer.ErrIPITimeout and not DeadlineExceeded: only the caller's
// deadline is a DeadlineExceeded. Either way the error names the CPU, and
// the shootdown returns soon after the limit whatever the Domain's
// SpinWait: here 5s, so a wait whose spin ignored the context would take
// 5s.
//
// The worker claims CPU 0 (unpinned, so any taskset will do), loads the MM
// and then blocks in the test's command loop without polling, so the IPI
// is never handled until the test lets it. Bounds are generous: the limit
// is 50ms, a shootdown must return within 1s (late otherwise) and one that
// has not returned after 20s is reported as lost.
// Mutants caught: none.
func TestShootdownDeadlineVersusIPITimeout(t *testing.T) {
	const (
		limit = 50 * time.Millisecond
		spin  = 5 * time.Second
		late  = time.Second
		lost  = 20 * time.Second
	)
	for _, callerDeadline := range []bool{true, false} {
		name := "IPITimeout"
		if callerDeadline {
			name = "caller deadline"
		}
		t.Run(name, func(t *testing.T) {
			opts := ctdefer.Options{IPITimeout: lost, SpinWait: spin}
			ctx := context.Background()
			if callerDeadline {
				c, cancel := context.WithTimeout(ctx, limit)
				t.Cleanup(cancel)
				ctx = c
			} else {
				opts.IPITimeout = limit
			}
			d := unpinnedDomain(t, opts)
			tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nopFlush})
			require.NoError(t, err, "New")
			mm := tlb.NewMM("a")
			w := startWorker(t, d, 0)
			w.do(func(c *ctdefer.CPU) {
				tc, err := tlb.Attach(c)
				require.NoError(t, err, "Attach")
				tc.SwitchTo(mm)
			})
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, err := tlb.Shootdown(ctx, mm)
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(lost):
				t.Fatalf("lost: Shootdown did not return %v after its start (limit %v)", lost, limit)
			}
			took := time.Since(start)
			t.Logf("returned after %v: %v", took, err)
			require.Less(t, took, late, "late: Shootdown returned %v after its start, limit %v (SpinWait %v)", took, limit, spin)
			require.ErrorContains(t, err, "lazytlb: Shootdown(a): CPU 0", "the error names the MM and the CPU")
			if callerDeadline {
				require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline ended the wait")
			} else {
				require.ErrorIs(t, err, ctdefer.ErrIPITimeout, "the Domain's IPITimeout ended the wait")
				require.False(t, errors.Is(err, context.DeadlineExceeded),
					"the Domain's own timeout is not the caller's deadline: %v", err)
			}
			w.do(func(c *ctdefer.CPU) {
				c.Poll() // handle the IPI, then leave before release
				tc, err := tlb.Attach(c)
				require.NoError(t, err, "Attach again")
				tc.Leave()
			})
		})
	}
}
