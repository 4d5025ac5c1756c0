//go:build ctdefer_explore

package explore_test

// Grace periods (package grace) under the explorer: the real ctdefer.Domain,
// the real grace engine, a reader that is a CPU's owner and an updater that
// replaces the object the reader uses and poisons the old one after a grace
// period. Property P6: the reader never sees poison.

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

const (
	objLive   = 0x11
	objPoison = 0xdead
)

// graceConfig shapes a grace scenario.
type graceConfig struct {
	// poll: the reader calls CPU.Poll between loading the pointer and
	// reading the object: a poll point while it holds a reference, where
	// the nudge runs. It must not count as a quiescent state.
	poll bool
	// checkpoint: after its first read, having dropped the reference, the
	// reader calls grace.Checkpoint (it reports if nudged).
	checkpoint bool
	// coarse: the updater's grace-period calls (Start, each Poll) run as
	// one step each (explore.Atomically), so that the exploration stays
	// exhaustive; the reader's side is interleaved at every atomic access.
	coarse bool
	// updaters: the number of updaters, each replacing its own object and
	// sharing the grace-period engine (the batching path).
	updaters int
}

// graceScenario: the reader claims the CPU (kernel mode) and, in that first
// kernel stretch, loads each published pointer and reads the object; then
// (optionally) Checkpoint; then a user/kernel round trip and a second read
// in a new stretch; then it returns to user mode. Each
// updater publishes a new object, waits for a grace period with Start and
// Poll (real code; between failed polls it waits for the reader's word to
// move), and poisons the old object. Nudges are immediate, so a failed scan
// posts one (deterministically). Check: no read sees poison.
func graceScenario(name string, cfg graceConfig) explore.Scenario {
	if cfg.updaters == 0 {
		cfg.updaters = 1
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
		if err != nil {
			panic(err)
		}
		g, err := grace.New(d, grace.Options{NudgeAfter: time.Nanosecond, SpinWait: -1})
		if err != nil {
			panic(err)
		}
		n := cfg.updaters
		ptrs := make([]atomicx.Uint64, n)   // updater u publishes in ptrs[u]
		objs := make([]atomicx.Uint64, 2*n) // objects 2u (old) and 2u+1 (new)
		for u := range n {
			ptrs[u].Store(uint64(2 * u))
			objs[2*u].Store(objLive)
			objs[2*u+1].Store(objLive)
			r.Name(&ptrs[u], fmt.Sprint("ptr", u), nil)
			r.Name(&objs[2*u], fmt.Sprint("old", u), nil)
			r.Name(&objs[2*u+1], fmt.Sprint("new", u), nil)
		}
		read := func(c *ctdefer.CPU, stretch int) {
			refs := make([]uint64, n)
			for u := range n {
				refs[u] = ptrs[u].Load() // the reader's reference
			}
			if cfg.poll {
				c.Poll() // a poll point while holding the references
			}
			for u, k := range refs {
				v := objs[k].Load()
				r.Assert(v != objPoison, "P6: reader in kernel stretch %d read object %d of updater %d after it was poisoned", stretch, k, u)
			}
		}
		r.Go("reader", func() {
			c, err := d.Claim(0) // kernel mode: the first stretch
			if err != nil {
				r.Fail(err)
			}
			read(c, 1)
			if cfg.checkpoint {
				g.Checkpoint(c) // no reference held here
			}
			c.UserEnter()
			c.KernelEnter()
			read(c, 2)
			// The reader ends in user mode without Release: a released CPU's
			// word stays in the kernel, and until ctdefer.Domain can say
			// which CPUs are claimed, the engine must count it as a CPU
			// still in its kernel stretch. (Its goroutine exits locked to
			// its thread, which the runtime then discards.)
			c.UserEnter()
		})
		step := func(fn func()) {
			if cfg.coarse {
				explore.Atomically(fn)
			} else {
				fn()
			}
		}
		for u := range n {
			r.Go(fmt.Sprint("updater", u), func() {
				ptrs[u].Store(uint64(2*u + 1)) // publish the new object
				var tok grace.Token
				step(func() { tok = g.Start() })
				for {
					done := false
					var last any
					var engine uint64
					step(func() {
						// The state before the poll: a change after
						// these loads either is seen by the poll or
						// wakes the wait below.
						last, _ = d.Snapshot(0)
						engine = g.EngineState()
						done = g.Poll(tok)
					})
					if done {
						break
					}
					// Spin-wait, the explorer's way (a real waiter sleeps
					// and polls again): until the reader's word moves (a
					// transition or a Quiesce) or the engine's words
					// change (another updater drove it, or gave it back).
					explore.Wait(func() bool {
						now, _ := d.Snapshot(0)
						return any(now) != last || g.EngineState() != engine
					})
				}
				objs[2*u].Store(objPoison) // free the old object
			})
		}
	}}
}

// graceRow is one exploration of the grace table.
type graceRow struct {
	scenario explore.Scenario
	mutant   string // "" for the real engine, else the grace.Mutate name
	opts     explore.Options
}

func graceRows() []graceRow {
	s := func(name string, cfg graceConfig) explore.Scenario { return graceScenario(name, cfg) }
	basic := graceConfig{coarse: true}
	poll := graceConfig{coarse: true, poll: true, checkpoint: true}
	return []graceRow{
		{scenario: s("grace/synchronize", basic)},
		{scenario: s("grace/synchronize-nudge", poll)},
		// Fine-grained (every atomic of the engine a scheduling point) and
		// two updaters sharing the engine: too many interleavings for an
		// exhaustive run, so with a preemption bound.
		{scenario: s("grace/synchronize-fine", graceConfig{poll: true, checkpoint: true}), opts: explore.Options{Preemptions: 3}},
		{scenario: s("grace/two-updaters", graceConfig{updaters: 2, coarse: true}), opts: explore.Options{Preemptions: 2}},
		// Fine-grained with two updaters: 122,362 schedules at bound 2
		// (16 s idle, 47 s on a loaded CI machine, no violation); bound 1
		// here to keep the suite short.
		{scenario: s("grace/two-updaters-fine", graceConfig{updaters: 2}), opts: explore.Options{Preemptions: 1}},
		{scenario: s("grace/synchronize", basic), mutant: "no-wait"},
		{scenario: s("grace/synchronize", basic), mutant: "kernel-quiescent"},
		{scenario: s("grace/synchronize-nudge", poll), mutant: "poll-quiescent"},
	}
}

// TestGraceExplore runs the grace scenarios over the real engine, requiring
// 0 violations, and over each mutant, requiring P6 to be caught:
//
//	grace/synchronize: N interleavings, 0 violations
//	mutant no-wait: grace/synchronize caught after M interleavings; schedule=[…]
func TestGraceExplore(t *testing.T) {
	for _, x := range graceRows() {
		name := x.scenario.Name
		if x.mutant != "" {
			name += "/mutant-" + x.mutant
		}
		t.Run(name, func(t *testing.T) {
			undo := grace.Mutate(orNone(x.mutant))
			defer undo()
			exploreAndReport(t, x.scenario, x.opts, "", x.mutant, []string{"P6"}, 10)
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
