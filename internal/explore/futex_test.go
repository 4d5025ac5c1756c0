//go:build ctdefer_explore

package explore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// futexScenario is the smallest parking protocol: a sleeper waits for a
// flag, a waker sets it and wakes the sleeper. readAfterCheck moves the
// sleeper's read of the futex value after its look at the flag (a lost
// wake-up); noWake makes the waker bump the value but never call Wake (a
// change of the word alone does not end a futex sleep).
func futexScenario(readAfterCheck, noWake bool) explore.Scenario {
	return explore.Scenario{Name: "futex", Setup: func(r *explore.Run) {
		f := new(atomicx.Futex)
		f.Init()
		flag := new(atomicx.Uint64)
		r.Name(f, "futex", nil)
		r.Name(flag, "flag", nil)
		r.Go("sleeper", func() {
			for {
				var v uint32
				if !readAfterCheck {
					v = f.Load()
				}
				if flag.Load() != 0 {
					return
				}
				if readAfterCheck {
					v = f.Load()
				}
				f.Wait(v)
			}
		})
		r.Go("waker", func() {
			flag.Store(1)
			f.Add(1)
			if !noWake {
				f.Wake()
			}
		})
	}}
}

// TestFutexBlockingIsExplored: the correct protocol has no lost wake-up in
// any schedule; both broken variants deadlock, reported as a lost wake-up.
func TestFutexBlockingIsExplored(t *testing.T) {
	res := explore.Explore(futexScenario(false, false), explore.Options{})
	if res.Violation != nil || !res.Complete {
		t.Fatalf("correct futex protocol: %+v", res)
	}
	t.Logf("futex: %d interleavings (bound=none), 0 violations", res.Schedules)
	for _, m := range []struct {
		name                   string
		readAfterCheck, noWake bool
	}{{"read-after-check", true, false}, {"no-wake", false, true}} {
		res := explore.Explore(futexScenario(m.readAfterCheck, m.noWake), explore.Options{})
		if res.Violation == nil {
			t.Fatalf("mutant %s: survived %d interleavings", m.name, res.Schedules)
		}
		if !errors.Is(res.Violation, explore.ErrDeadlock) || !strings.Contains(res.Violation.Error(), "lost wake-up") {
			t.Fatalf("mutant %s: caught for %v, want a lost wake-up", m.name, res.Violation)
		}
		t.Logf("mutant %s: caught after %d interleavings; schedule=%v\n%s", m.name, res.Schedules,
			res.Violation.Schedule, res.Violation.TraceString(20))
	}
}
