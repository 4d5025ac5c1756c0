//go:build ctdefer_explore

package grace_test

// Grace periods under the interleaving explorer (internal/explore): the real
// ctdefer.Domain, the real grace engine, a reader that is a CPU's owner and
// an updater that replaces the object the reader uses and poisons the old
// one after a grace period. Property: grace periods cover what began before (the reader never sees
// poison). And the expedited
// barrier: the barrier reaches every kernel-mode CPU: it does not return before a CPU that was in the
// kernel when it was called has executed a poll point or a transition, or
// has been released. Run them with
//
//	go test -tags ctdefer_explore -run Explore -v ./grace/
//
// The scenarios live here, beside the engine, so that they may reach its
// internals through export_test.go (EngineState) without exporting them.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/corelink"
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
	// release: after its first stretch the reader releases the CPU (its
	// word stays in Kernel at the same sequence: only the claimed flag
	// says the stretch is over), and stops there unless reclaim is set.
	release bool
	// reclaim: after the release, the reader claims the CPU again (kernel
	// mode, still no transition of the word) and reads in that stretch.
	reclaim bool
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
				r.Assert(v != objPoison, "grace-periods-cover: reader in kernel stretch %d read object %d of updater %d after it was poisoned", stretch, k, u)
			}
		}
		var gap atomicx.Uint64 // the reader's mark between Release and Claim
		r.Name(&gap, "gap", nil)
		r.Go("reader", func() {
			c, err := d.Claim(0) // kernel mode: the first stretch
			if err != nil {
				r.Fail(err)
			}
			read(c, 1)
			if cfg.checkpoint {
				g.Checkpoint(c) // no reference held here
			}
			if cfg.release {
				// Release ends the stretch without a transition: the
				// engine learns it from the claimed flag alone.
				if err := c.Release(); err != nil {
					r.Fail(err)
				}
				if !cfg.reclaim {
					return
				}
				// A step between Release and Claim, so that the engine may
				// scan while the CPU is unclaimed (and the gap shows in
				// traces).
				gap.Store(1)
				if c, err = d.Claim(0); err != nil {
					r.Fail(err)
				}
				read(c, 2) // the new owner's first stretch
				c.UserEnter()
				return
			}
			c.UserEnter()
			c.KernelEnter()
			read(c, 2)
			// The reader ends in user mode without Release (the release
			// scenarios take that path). Its goroutine exits locked to
			// its thread, which the runtime then discards.
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
				pollUntil(d, g, tok, step)
				objs[2*u].Store(objPoison) // free the old object
			})
		}
	}}
}

// pollUntil is an updater's wait for tok over CPU 0: step runs each Poll,
// with the loads before it (explore.Atomically for a coarse updater, a
// plain call for a fine-grained one).
func pollUntil(d *ctdefer.Domain, g *grace.Domain, tok grace.Token, step func(func())) {
	for {
		done := false
		var last ctseq.Snapshot
		var engine uint64
		step(func() {
			// The state before the poll: a change after these loads
			// either is seen by the poll or wakes the wait below.
			last, _ = corelink.Of[ctdefer.CPU](d).Snapshot(0)
			engine = g.EngineState()
			done = g.Poll(tok)
		})
		if done {
			return
		}
		// Spin-wait, the explorer's way (a real waiter sleeps and polls
		// again): until the reader's word moves (a transition or a
		// Quiesce) or the engine's words change (another updater drove
		// it, or gave it back).
		explore.Wait(func() bool {
			now, _ := corelink.Of[ctdefer.CPU](d).Snapshot(0)
			return now != last || g.EngineState() != engine
		})
	}
}

// barrierScenario: the reader claims the CPU (kernel mode) and, in that
// first stretch, writes and reads a word around a poll point, then returns
// to user mode (where a late IPI is deferred or handled at UserEnter), or,
// with release, releases the CPU (which handles a posted IPI, else leaves
// the word in Kernel: only the claimed flag ends the barrier's wait).
// The caller runs ExpeditedBarrier (its wait is handed to the explorer:
// atomicx.Await in await). Check that the barrier reaches every kernel-mode CPU: if the reader was claimed and in the kernel
// just before the call, then when the barrier returns it has since handled
// an IPI at a poll point (ctdefer's IPIRuns, counted in the step of the
// mailbox claim that runs the handler), made a transition (QuiescentSince on
// the word as it was before the call), or been released.
func barrierScenario(name string, release bool) explore.Scenario {
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
		if err != nil {
			panic(err)
		}
		g, err := grace.New(d, grace.Options{SpinWait: -1})
		if err != nil {
			panic(err)
		}
		var data atomicx.Uint64
		r.Name(&data, "data", nil)
		r.Go("reader", func() {
			c, err := d.Claim(0) // kernel mode
			if err != nil {
				r.Fail(err)
			}
			data.Store(1) // kernel-mode work
			c.Poll()      // the barrier's IPI runs here, if posted by now
			_ = data.Load()
			if release {
				if err := c.Release(); err != nil {
					r.Fail(err)
				}
				return
			}
			c.UserEnter()
		})
		// IPI runs on the Domain's one CPU.
		ipiRuns := func() uint64 { return d.Stats().IPIRuns }
		var call atomicx.Uint64 // the barrier thread's first step
		r.Name(&call, "call", nil)
		r.Go("barrier", func() {
			var before ctseq.Snapshot
			var runs uint64
			var claimed bool
			// A step of its own before the look at the reader, so that
			// the call may come at any point of the reader's run (a
			// thread's code before its first step runs before any other
			// thread's first step: the reader would never be claimed yet).
			call.Store(1)
			explore.Atomically(func() {
				before, _ = corelink.Of[ctdefer.CPU](d).Snapshot(0)
				runs, claimed = ipiRuns(), corelink.Of[ctdefer.CPU](d).Claimed(0)
			})
			if err := g.ExpeditedBarrier(context.Background()); err != nil {
				r.Fail(err)
			}
			ok := true
			explore.Atomically(func() {
				inKernel := claimed && before.State() == ctseq.Kernel
				ok = !inKernel || corelink.Of[ctdefer.CPU](d).QuiescentSince(0, before) || ipiRuns() > runs || !corelink.Of[ctdefer.CPU](d).Claimed(0)
			})
			r.Assert(ok, "barrier-reaches-kernel: ExpeditedBarrier returned while the reader, in the kernel when it was called, had executed no poll point, transition or release since")
		})
	}}
}

// startRaceScenario: concurrent Start calls that compute different tokens
// must all be served. The owner claims the CPU and makes user, kernel and
// user transitions. Updater a's Start is fine-grained (its request of need
// may come at any point of the others' run); updater b's calls are coarse:
// Start and wait for its token, then, two Starts in a row (the second one
// during the grace period the first began, so that it asks for the one
// after) and wait for both. Check: every wait ends (a request lowered by a
// stale one, so that no grace period ever serves it, is a deadlock). The
// interleaving that lowers need: a loads need during the first grace
// period, b's third Start raises it above a's token, then a stores its own.
func startRaceScenario() explore.Scenario {
	return explore.Scenario{Name: "grace/start-race", Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
		if err != nil {
			panic(err)
		}
		g, err := grace.New(d, grace.Options{NudgeAfter: -1, SpinWait: -1})
		if err != nil {
			panic(err)
		}
		r.Go("owner", func() {
			var c *ctdefer.CPU
			explore.Atomically(func() { c, err = d.Claim(0) }) // kernel mode
			if err != nil {
				r.Fail(err)
			}
			c.UserEnter()
			c.KernelEnter()
			c.UserEnter()
		})
		wait := func(tok grace.Token) { pollUntil(d, g, tok, explore.Atomically) }
		r.Go("a", func() {
			wait(g.Start())
		})
		r.Go("b", func() {
			var t1, t2, t3 grace.Token
			explore.Atomically(func() { t1 = g.Start() })
			wait(t1)
			explore.Atomically(func() { t2 = g.Start() })
			explore.Atomically(func() { t3 = g.Start() })
			wait(t2)
			wait(t3)
		})
	}}
}

// graceRow is one exploration of the grace table.
type graceRow struct {
	scenario explore.Scenario
	opts     explore.Options
}

func graceRows() []graceRow {
	s := func(name string, cfg graceConfig) explore.Scenario { return graceScenario(name, cfg) }
	basic := graceConfig{coarse: true}
	poll := graceConfig{coarse: true, poll: true, checkpoint: true}
	release := graceConfig{coarse: true, release: true}
	reclaim := graceConfig{coarse: true, poll: true, release: true, reclaim: true}
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
		// Release during a grace period: the word stays in Kernel, so
		// only the claimed flag (in EngineState, for the updater's wait)
		// ends the wait. A scan that ignored it would never complete the
		// grace period: the updater would wait forever, a deadlock.
		{scenario: s("grace/release", release)},
		// Released and claimed again (a scheduling point in between), the
		// new owner reading in its first stretch; fine-grained updater.
		{scenario: s("grace/reclaim", reclaim)},
		{scenario: s("grace/reclaim-fine", graceConfig{poll: true, release: true, reclaim: true}), opts: explore.Options{Preemptions: 2}},
		// The barrier's IPI goes through the root package's delivery path,
		// every step of which (post, statistics, wake check, the reader's
		// mailbox claim) is a scheduling point: an exhaustive search does
		// not end in hours (longest run 49 steps, 53 with release). Bound
		// 4: 26,860 and 47,073 schedules (15 s each); 3 here.
		{scenario: barrierScenario("grace/expedited-barrier", false), opts: explore.Options{Preemptions: 3}},
		{scenario: barrierScenario("grace/expedited-barrier-release", true), opts: explore.Options{Preemptions: 3}},
		// Two preemptions reach the lost request (a after its load of
		// need, the owner inside its kernel stretch).
		{scenario: startRaceScenario(), opts: explore.Options{Preemptions: 2}},
	}
}

// TestGraceExplore runs every grace scenario over the real engine and
// requires 0 violations and a complete search (up to its preemption bound),
// logging
//
//	grace/synchronize: N interleavings (bound=none), 0 violations (longest S steps, T)
//
// The deliberately broken engines these scenarios must catch are in the
// mutation catalogue (verify/mutants/catalogue.txt).
// Mutants caught: grace-barrier-skip-kernel, grace-fast-path-no-start,
// grace-ignore-release, grace-no-wait, grace-poll-quiescent,
// grace-start-need-load-store.
func TestGraceExplore(t *testing.T) {
	for _, x := range graceRows() {
		exploreRow(t, x.scenario, x.opts)
	}
}

// exploreRow explores s in a subtest and requires 0 violations and a
// complete search, logging the figures.
func exploreRow(t *testing.T, s explore.Scenario, o explore.Options) {
	t.Run(s.Name, func(t *testing.T) {
		start := time.Now()
		res := explore.Explore(s, o)
		took := time.Since(start).Round(time.Millisecond)
		if v := res.Violation; v != nil {
			t.Fatalf("%s: violation after %d interleavings: %v\nschedule=%v\n%s",
				s.Name, res.Schedules, v, v.Schedule, v.TraceString(80))
		}
		if !res.Complete {
			t.Fatalf("%s: incomplete after %d interleavings", s.Name, res.Schedules)
		}
		bound := "none"
		if o.Preemptions > 0 {
			bound = fmt.Sprint(o.Preemptions)
		}
		t.Logf("%s: %d interleavings (bound=%s), 0 violations (longest %d steps, %v)",
			s.Name, res.Schedules, bound, res.Longest, took)
	})
}
