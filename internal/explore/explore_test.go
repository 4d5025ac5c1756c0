//go:build ctdefer_explore

package explore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// ops returns a scenario of threads that each do n[i] loads of a word of
// their own: every interleaving is distinct, none is wrong.
func ops(n ...int) explore.Scenario {
	return explore.Scenario{Name: "ops", Setup: func(r *explore.Run) {
		for i, k := range n {
			w := new(atomicx.Uint64)
			r.Go(fmt.Sprint("t", i), func() {
				for range k {
					w.Load()
				}
			})
		}
	}}
}

// TestExploreCountsInterleavings: two threads with 2 and 3 operations have
// C(5,2) = 10 interleavings; three with 1, 1 and 2 have 4!/2! = 12.
func TestExploreCountsInterleavings(t *testing.T) {
	for _, tc := range []struct {
		n    []int
		want int
	}{
		{[]int{2, 3}, 10},
		{[]int{1, 1, 2}, 12},
		{[]int{3}, 1},
		{[]int{0, 2}, 1},
	} {
		res := explore.Explore(ops(tc.n...), explore.Options{})
		if res.Violation != nil || !res.Complete || res.Schedules != tc.want {
			t.Errorf("ops%v: %+v, want %d complete schedules", tc.n, res, tc.want)
		}
	}
}

// TestExplorePreemptionBound: with 2 and 3 operations, a schedule of b
// blocks (maximal runs of one thread) has b-2 preemptions (the switch into
// the last block is not one: the other thread has ended). There are 2
// schedules with 2 blocks, 3 with 3, 4 with 4 and 1 with 5.
func TestExplorePreemptionBound(t *testing.T) {
	for bound, want := range map[int]int{1: 5, 2: 9, 3: 10, 0: 10} {
		res := explore.Explore(ops(2, 3), explore.Options{Preemptions: bound})
		if res.Violation != nil || !res.Complete || res.Schedules != want {
			t.Errorf("bound %d: %+v, want %d complete schedules", bound, res, want)
		}
	}
}

// lostUpdate: two threads increment a counter with a load and a store.
func lostUpdate() explore.Scenario {
	return explore.Scenario{Name: "lost-update", Setup: func(r *explore.Run) {
		c := new(atomicx.Uint64)
		r.Name(c, "counter", nil)
		inc := func() { c.Store(c.Load() + 1) }
		r.Go("a", inc)
		r.Go("b", inc)
		r.Check(func() error {
			if v := c.Load(); v != 2 {
				return fmt.Errorf("counter = %d after two increments", v)
			}
			return nil
		})
	}}
}

func TestExploreFindsLostUpdateAndReplays(t *testing.T) {
	res := explore.Explore(lostUpdate(), explore.Options{})
	v := res.Violation
	if v == nil {
		t.Fatalf("lost update not found in %d schedules", res.Schedules)
	}
	t.Logf("caught after %d schedules: %v; schedule=%v\n%s", res.Schedules, v, v.Schedule, v.TraceString(0))
	if !strings.Contains(v.Error(), "counter = 1") {
		t.Errorf("violation %q, want counter = 1", v)
	}
	if len(v.Trace) != len(v.Schedule) || v.Trace[0].Word != "counter" {
		t.Errorf("trace %v does not match schedule %v", v.Trace, v.Schedule)
	}
	err := explore.Replay(lostUpdate(), v.Schedule)
	if err == nil || err.Error() != v.Error() {
		t.Errorf("Replay(%v) = %v, want %v", v.Schedule, err, v)
	}
	// The serial schedule is fine.
	if err := explore.Replay(lostUpdate(), explore.Schedule{0, 0, 1, 1}); err != nil {
		t.Errorf("Replay(serial) = %v", err)
	}
	// A schedule that does not fit is reported, not followed.
	if err := explore.Replay(lostUpdate(), explore.Schedule{0, 0, 0}); err == nil {
		t.Error("Replay of an impossible schedule succeeded")
	}
}

func TestFromBytes(t *testing.T) {
	// a loads; b loads; a stores and ends; b stores: counter = 1.
	if err := explore.FromBytes(lostUpdate(), []byte{0, 1, 1}); err == nil {
		t.Error("FromBytes{0,1,1}: lost update not found")
	}
	// Running thread always continues: serial.
	if err := explore.FromBytes(lostUpdate(), nil); err != nil {
		t.Errorf("FromBytes(nil) = %v", err)
	}
}

func TestExploreDeadlock(t *testing.T) {
	s := explore.Scenario{Name: "deadlock", Setup: func(r *explore.Run) {
		w := new(atomicx.Uint64)
		r.Go("waiter", func() { explore.Wait(func() bool { return w.Load() == 2 }) })
		r.Go("setter", func() { w.Store(1) })
	}}
	res := explore.Explore(s, explore.Options{})
	if res.Violation == nil || !errors.Is(res.Violation, explore.ErrDeadlock) {
		t.Fatalf("got %+v, want a deadlock", res)
	}
}

func TestExploreWait(t *testing.T) {
	s := explore.Scenario{Name: "wait", Setup: func(r *explore.Run) {
		w := new(atomicx.Uint64)
		r.Go("waiter", func() {
			explore.Wait(func() bool { return w.Load() == 1 })
			w.Store(2)
		})
		r.Go("setter", func() { w.Store(1) })
		r.Check(func() error {
			if w.Load() != 2 {
				return errors.New("waiter did not run after setter")
			}
			return nil
		})
	}}
	// setter stores; waiter returns from Wait; waiter stores: 1 schedule.
	res := explore.Explore(s, explore.Options{})
	if res.Violation != nil || res.Schedules != 1 {
		t.Fatalf("got %+v, want 1 schedule", res)
	}
}

func TestExploreLivelock(t *testing.T) {
	s := explore.Scenario{Name: "spin", Setup: func(r *explore.Run) {
		w := new(atomicx.Uint64)
		r.Go("spinner", func() {
			for w.Load() == 0 {
			}
		})
		r.Go("setter", func() { w.Store(1) })
	}}
	res := explore.Explore(s, explore.Options{MaxSteps: 50})
	if res.Violation == nil || !errors.Is(res.Violation, explore.ErrLivelock) {
		t.Fatalf("got %+v, want a livelock", res)
	}
	if res.Schedules != 1 {
		t.Errorf("livelock found after %d schedules, want 1 (the spinner runs first)", res.Schedules)
	}
}

func TestExplorePanicAndFail(t *testing.T) {
	mk := func(body func(r *explore.Run, w *atomicx.Uint64)) explore.Scenario {
		return explore.Scenario{Name: "fail", Setup: func(r *explore.Run) {
			w := new(atomicx.Uint64)
			r.Go("a", func() { w.Store(1); w.Store(2) })
			r.Go("b", func() { body(r, w) })
		}}
	}
	res := explore.Explore(mk(func(r *explore.Run, w *atomicx.Uint64) {
		if w.Load() == 1 {
			panic("saw 1")
		}
	}), explore.Options{})
	var pe *explore.PanicError
	if !errors.As(res.Violation, &pe) || pe.Thread != "b" || pe.Value != "saw 1" {
		t.Errorf("panic: got %+v", res)
	}
	res = explore.Explore(mk(func(r *explore.Run, w *atomicx.Uint64) {
		v := w.Load()
		r.Assert(v != 1, "saw %d", v)
	}), explore.Options{})
	if res.Violation == nil || res.Violation.Error() != "saw 1" {
		t.Errorf("assert: got %+v", res)
	}
	// Depth first, the running thread first: "a a b" passes, then the
	// last decision with an alternative gives "a b a", which fails.
	if res.Schedules != 2 {
		t.Errorf("assert failed after %d schedules, want 2", res.Schedules)
	}
}

func TestExploreNondeterminism(t *testing.T) {
	calls := 0
	s := explore.Scenario{Name: "nondet", Setup: func(r *explore.Run) {
		// a does 3 loads in the first run, 2 in the second: the second
		// run replays the prefix "a a" and then finds a ended where a
		// third load was recorded.
		calls++
		n := 4 - calls
		w := new(atomicx.Uint64)
		r.Go("a", func() {
			for range n {
				w.Load()
			}
		})
		r.Go("b", func() { w.Load() })
	}}
	res := explore.Explore(s, explore.Options{})
	if res.Violation == nil || !errors.Is(res.Violation, explore.ErrNondeterministic) {
		t.Fatalf("got %+v, want ErrNondeterministic", res)
	}
}

func TestExploreMaxSchedules(t *testing.T) {
	res := explore.Explore(ops(2, 3), explore.Options{MaxSchedules: 4})
	if res.Complete || res.Schedules != 4 || res.Violation != nil {
		t.Errorf("got %+v, want 4 incomplete", res)
	}
}

// TestAtomicallyOutsideExploration: outside an exploration the hook is off
// and Atomically just runs its function.
func TestAtomicallyOutsideExploration(t *testing.T) {
	if atomicx.Yield != nil {
		t.Fatal("atomicx.Yield left installed")
	}
	var w atomicx.Uint64
	explore.Atomically(func() { w.Store(3) })
	if w.Load() != 3 {
		t.Fatal("Atomically did not run")
	}
}

// timedWait: a thread waits, with a deadline, for a flag that another sets.
// outcomes records how each run's wait ended; with failOnExpiry, a run in
// which the wait expired is a violation.
func timedWait(outcomes map[string]int, failOnExpiry bool) explore.Scenario {
	return explore.Scenario{Name: "timed-wait", Setup: func(r *explore.Run) {
		flag := new(atomicx.Uint64)
		r.Name(flag, "flag", nil)
		var handled, expired bool
		r.Go("waiter", func() {
			handled, expired = atomicx.AwaitTimed(func() bool { return flag.Load() == 1 })
		})
		r.Go("setter", func() { flag.Store(1) })
		r.Check(func() error {
			switch {
			case !handled:
				return errors.New("AwaitTimed in a thread was not handled by the explorer")
			case expired && failOnExpiry:
				return errors.New("the wait expired")
			}
			outcomes[fmt.Sprint("expired=", expired)]++
			return nil
		})
	}}
}

// TestExploreTimeouts: with Options.Timeouts, a timed wait may expire at
// any step at which its condition does not hold (here: before the setter
// runs), and it never expires once the condition holds; without it, a
// timed wait ends only when its condition holds. An expiry shows in the
// trace as a "timeout" step.
func TestExploreTimeouts(t *testing.T) {
	got := map[string]int{}
	res := explore.Explore(timedWait(got, false), explore.Options{Timeouts: true})
	if res.Violation != nil || !res.Complete || res.Schedules != 2 {
		t.Fatalf("with Timeouts: %+v, want 2 complete schedules", res)
	}
	if got["expired=true"] != 1 || got["expired=false"] != 1 {
		t.Fatalf("with Timeouts: outcomes %v, want one expired run and one not", got)
	}
	got = map[string]int{}
	res = explore.Explore(timedWait(got, false), explore.Options{})
	if res.Violation != nil || !res.Complete || res.Schedules != 1 || got["expired=false"] != 1 {
		t.Fatalf("without Timeouts: %+v, outcomes %v; want 1 schedule, not expired", res, got)
	}
	res = explore.Explore(timedWait(map[string]int{}, true), explore.Options{Timeouts: true})
	if res.Violation == nil {
		t.Fatalf("with Timeouts, a run whose wait expires is a violation: none found in %d schedules", res.Schedules)
	}
	if tr := res.Violation.TraceString(0); !strings.Contains(tr, "waiter     timeout") {
		t.Fatalf("the expiry is not a timeout step of the trace:\n%s", tr)
	}
}
