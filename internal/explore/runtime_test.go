//go:build ctdefer_explore

package explore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// runtimeScenario explores the root package's real delivery path: Defer's
// fast path and slow path (the ctseq word, the policy, the borrow attempt,
// the IPI mailbox, the wake check) against the owner's real UserEnter,
// Poll (an IPI interrupting user mode), KernelEnter (drain, then the
// mailbox), Release. Every atomicx operation of that code is a scheduling
// point. Parking is left out: a parked owner sleeps in a futex, which is not
// a scheduling point.
//
// Checks: exactly-once delivery, each sender's item runs exactly once, on the owner's thread
// (never on a sender's: the works are not RemoteSafe); the delivery Defer
// reported matches how the item ran (a Deferred item is run by a kernel
// entry's drain, an IPI'd one by a mailbox claim), never both; nothing is
// left pending after Release.
func runtimeScenario(senders int, rounds int) explore.Scenario {
	return explore.Scenario{Name: fmt.Sprintf("runtime/%d-senders-%d-rounds", senders, rounds), Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
		if err != nil {
			r.Fail(err)
			return
		}
		// Plain bookkeeping: execution is serialised by the explorer.
		runs := make([]int, senders)
		how := make([]ctdefer.Delivery, senders)
		ranBy := make([]string, senders)
		owner := ""
		var where string // what the owner is doing, set before each call
		works := make([]ctdefer.Work, senders)
		for i := range senders {
			works[i], err = d.Register(fmt.Sprint("item", i), func(int) {
				runs[i]++
				ranBy[i] = where
			})
			if err != nil {
				r.Fail(err)
				return
			}
		}
		done := 0
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if err != nil {
				r.Fail(err)
				return
			}
			owner = "owner"
			for range rounds {
				where = "user-enter"
				c.UserEnter()
				where = "poll-in-user"
				c.Poll()
				where = "kernel-enter"
				c.KernelEnter()
			}
			explore.Wait(func() bool { return done == senders })
			where = "release"
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
		})
		for i := range senders {
			r.Go(fmt.Sprint("sender", i), func() {
				h, err := d.Defer(0, works[i])
				if err != nil {
					r.Fail(err)
					return
				}
				how[i] = h
				done++
			})
		}
		r.Check(func() error {
			if owner == "" {
				return fmt.Errorf("the owner never claimed its CPU")
			}
			for i := range senders {
				if runs[i] != 1 {
					return fmt.Errorf("exactly-once: item %d (%v) ran %d times", i, how[i], runs[i])
				}
				switch how[i] {
				case ctdefer.Deferred:
					// A deferred item runs in a kernel entry's drain: the
					// KernelEnter, the interrupt entry of a Poll in user
					// mode, or Release's entry, never from the mailbox
					// alone. UserEnter cannot run it (the CPU is in the
					// kernel there, no bit can be pending).
					if ranBy[i] == "user-enter" {
						return fmt.Errorf("item %d was deferred but ran in %s", i, ranBy[i])
					}
				case ctdefer.IPI:
				default:
					return fmt.Errorf("item %d delivered as %v", i, how[i])
				}
			}
			st := d.TotalStats()
			if st.Executed != uint64(senders) || st.Deferred+st.IPIRuns != uint64(senders) {
				return fmt.Errorf("stats disagree with the runs: %v", st)
			}
			return nil
		})
	}}
}

// Mutant caught: double-delivery.
func TestRuntimeExplore(t *testing.T) {
	for _, tc := range []struct {
		senders, rounds, bound int
	}{
		// Every shared word of the path is a scheduling point (statistics,
		// the claim's bookkeeping, the completion words): the owner's run
		// is about 50 steps, and no search here is complete in minutes.
		// 1 sender: bound 5 is 79,198 schedules (18 s); 2 senders, 1 round:
		// bound 3 is 93,794 (22 s); 2 senders, 2 rounds: bound 3 is 128,292
		// (28 s).
		{1, 2, 4},
		{2, 1, 3},
		{2, 2, 2},
	} {
		s := runtimeScenario(tc.senders, tc.rounds)
		t.Run(s.Name, func(t *testing.T) {
			exploreAndReport(t, s, explore.Options{Preemptions: tc.bound}, "")
		})
	}
}
