//go:build ctdefer_explore

package grace_test

// The memb flavour under the interleaving explorer: the real memb engine
// and the real Handles (the checked builds' Lock and Unlock, which the
// explorer's builds compile, with every access of the reader's word a
// scheduling point). A reader is a goroutine that brackets its reads with
// Lock and Unlock; an updater publishes a new object through a
// grace.Pointer, waits for a grace period with Start and Poll (real code;
// between failed polls it waits until a word the engine reads changes, as
// a real waiter would sleep and poll again) and poisons the old object.
// Property: a section that began before a grace period holds it (the
// reader never sees poison). Under the explorer every atomic is
// sequentially consistent, as the read side is with membarrier's help:
// what the explorer checks is the protocol, not the barrier. Run them with
//
//	go test -tags ctdefer_explore -run MembExplore -v ./grace/

import (
	"fmt"
	"testing"

	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// membScenario builds a memb Domain, one registered Handle and n updaters,
// each with its own Pointer, and runs reader(g, h, read) on a thread. read
// loads every pointer, then checks each object (a scheduling point per
// check: the reference is held across them).
func membScenario(name string, updaters int, reader func(r *explore.Run, g *grace.Domain, h *grace.Handle, read func())) explore.Scenario {
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		g, err := grace.NewMemb(grace.Options{SpinWait: -1})
		if err != nil {
			panic(err)
		}
		h, err := g.Register()
		if err != nil {
			panic(err)
		}
		ptrs := make([]*grace.Pointer[qobj], updaters)
		for u := range updaters {
			old := &qobj{}
			old.v.Store(objLive)
			ptrs[u] = grace.NewPointer(g, old)
			r.Name(&old.v, fmt.Sprint("old", u), nil)
		}
		read := func() {
			refs := make([]*qobj, updaters)
			for u, p := range ptrs {
				refs[u] = p.Load()
			}
			for u, o := range refs {
				r.Assert(o.v.Load() != objPoison, "sections-hold-grace-periods: the reader read updater %d's object after it was poisoned", u)
			}
		}
		r.Go("reader", func() {
			reader(r, g, h, read)
			// Unregister: a Handle left to the garbage collector would be
			// cleaned up on a goroutine outside the exploration.
			h.Unregister()
		})
		for u := range updaters {
			r.Go(fmt.Sprint("updater", u), func() {
				fresh := &qobj{}
				fresh.v.Store(objLive)
				old := ptrs[u].Swap(fresh)
				t := g.Start()
				for {
					s := grace.MembState(g) // before the Poll: a change during it is not missed
					if g.Poll(t) {
						break
					}
					explore.Wait(func() bool { return grace.MembState(g) != s })
				}
				old.v.Store(objPoison)
			})
		}
	}}
}

func membRows() []struct {
	s    explore.Scenario
	opts explore.Options
} {
	return []struct {
		s    explore.Scenario
		opts explore.Options
	}{
		// A section that began before a grace period holds it: two
		// sections against one updater's Start, scans and end.
		{membScenario("memb/section-vs-synchronize", 1, func(r *explore.Run, g *grace.Domain, h *grace.Handle, read func()) {
			for range 2 {
				h.Lock()
				read()
				h.Unlock()
			}
		}), explore.Options{Preemptions: 4}},
		// Nested sections: the inner Unlock does not end the section.
		{membScenario("memb/nested", 1, func(r *explore.Run, g *grace.Domain, h *grace.Handle, read func()) {
			h.Lock()
			h.Lock()
			read()
			h.Unlock()
			read()
			h.Unlock()
		}), explore.Options{Preemptions: 4}},
		// A registration while a grace period is in progress: the new
		// reader's sections are covered by the next grace period, and the
		// one in progress does not wait for them.
		{membScenario("memb/register-during-grace-period", 1, func(r *explore.Run, g *grace.Domain, h *grace.Handle, read func()) {
			h.Lock()
			read()
			explore.Wait(func() bool { return grace.MembStarted(g) > 0 })
			late, err := g.Register()
			if err != nil {
				r.Fail(err)
			}
			late.Lock()
			h.Unlock()
			read()
			late.Unlock()
			late.Unregister()
		}), explore.Options{Preemptions: 3}},
		// Two updaters share the engine: a grace period in progress when
		// the second one swaps must not serve it.
		{membScenario("memb/two-updaters", 2, func(r *explore.Run, g *grace.Domain, h *grace.Handle, read func()) {
			for range 2 {
				h.Lock()
				read()
				h.Unlock()
			}
		}), explore.Options{Preemptions: 2}},
	}
}

// TestMembExplore runs every memb scenario over the real engine and
// requires 0 violations and a complete search up to its bound.
// Mutants caught: memb-token-in-progress, memb-scan-skips-readers-explored.
func TestMembExplore(t *testing.T) {
	for _, x := range membRows() {
		exploreRow(t, x.s, x.opts)
	}
}
