//go:build ctdefer_explore

package grace_test

// The QSBR flavour under the interleaving explorer: the real ctdefer.Domain
// and the real QSBR engine, with its futex sleep modelled (a wake-up that
// never comes is a deadlock). A reader is a CPU's owner in user mode; an
// updater publishes a new object through a grace.Pointer, runs Synchronize
// (the real wait: announce, scan, futex sleep) and poisons the old object.
// Properties: grace periods cover what began before (the reader never sees
// poison); no sleeping through a report (no run ends with a
// thread asleep for good (every wait is woken). Run them with
//
//	go test -tags ctdefer_explore -run QSBRExplore -v ./grace/

import (
	"context"
	"fmt"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

type qobj struct{ v atomicx.Uint64 }

// qsbrScenario builds the domains and n updaters, each with its own
// Pointer, and runs reader(read, c, r) on CPU 0's owner. read loads every
// pointer, then checks each object (a scheduling point per check: the
// reference is held across them).
func qsbrScenario(name string, updaters int, reader func(r *explore.Run, read func(), q *grace.Domain, rd *grace.Reader, updatersDone func() bool)) explore.Scenario {
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
		if err != nil {
			panic(err)
		}
		q, err := grace.NewQSBR(d, grace.Options{SpinWait: -1})
		if err != nil {
			panic(err)
		}
		ptrs := make([]*grace.Pointer[qobj], updaters)
		olds := make([]*qobj, updaters)
		for u := range updaters {
			olds[u] = &qobj{}
			olds[u].v.Store(objLive)
			ptrs[u] = grace.NewPointer(q, olds[u])
			r.Name(&olds[u].v, fmt.Sprint("old", u), nil)
		}
		done := 0
		read := func() {
			refs := make([]*qobj, updaters)
			for u, p := range ptrs {
				refs[u] = p.Load()
			}
			for u, o := range refs {
				r.Assert(o.v.Load() != objPoison, "grace-periods-cover: the reader read updater %d's object after it was poisoned", u)
			}
		}
		r.Go("reader", func() {
			c, err := d.Claim(0)
			if err != nil {
				r.Fail(err)
			}
			rd := q.Reader(c) // online
			c.UserEnter()
			reader(r, read, q, rd, func() bool { return done == updaters })
		})
		for u := range updaters {
			r.Go(fmt.Sprint("updater", u), func() {
				fresh := &qobj{}
				fresh.v.Store(objLive)
				old := ptrs[u].Swap(fresh)
				if err := q.Synchronize(context.Background()); err != nil {
					r.Fail(err)
				}
				old.v.Store(objPoison)
				done++
			})
		}
	}}
}

func qsbrRows() []struct {
	s    explore.Scenario
	opts explore.Options
} {
	return []struct {
		s    explore.Scenario
		opts explore.Options
	}{
		// Grace periods cover what began before, for reports against the start of a grace period: two read
		// bursts, each followed by a report, then offline.
		{qsbrScenario("qsbr/report-vs-start", 1, func(r *explore.Run, read func(), q *grace.Domain, rd *grace.Reader, _ func() bool) {
			for range 2 {
				read()
				rd.Quiescent()
			}
			rd.Offline()
		}), explore.Options{Preemptions: 3}},
		// No sleeping through a report, for the futex: once the grace period has started, the reader
		// reports once, then waits for the updater without another report
		// or Offline: only the report's wake-up can end the updater's
		// sleep, wherever the report falls in the updater's announce,
		// scan and sleep.
		{qsbrScenario("qsbr/sleep-vs-wake", 1, func(r *explore.Run, read func(), q *grace.Domain, rd *grace.Reader, updatersDone func() bool) {
			read()
			explore.Wait(func() bool { return grace.QSBRStarted(q) > 0 })
			rd.Quiescent()
			explore.Wait(updatersDone)
			rd.Offline()
		}), explore.Options{Preemptions: 3}},
		// Offline and Online against Synchronize: a read, Offline, a wait
		// for the updater (only Offline's wake-up can end its sleep), then
		// Online and a read of the new object.
		{qsbrScenario("qsbr/offline-online", 1, func(r *explore.Run, read func(), q *grace.Domain, rd *grace.Reader, updatersDone func() bool) {
			read()
			rd.Offline()
			explore.Wait(updatersDone)
			rd.Online()
			read()
			rd.Offline()
		}), explore.Options{Preemptions: 3}},
		// Two updaters share the engine (a grace period in progress when
		// the second one starts must not serve it).
		{qsbrScenario("qsbr/two-updaters", 2, func(r *explore.Run, read func(), q *grace.Domain, rd *grace.Reader, _ func() bool) {
			for range 2 {
				read()
				rd.Quiescent()
			}
			rd.Offline()
		}), explore.Options{Preemptions: 2}},
	}
}

// TestQSBRExplore runs every QSBR scenario over the real engine and
// requires 0 violations and a complete search up to its bound. The broken
// engines they must catch are in the mutation catalogue.
// Mutants caught: qsbr-announce-after-scan, qsbr-offline-no-wake,
// qsbr-report-no-wake, qsbr-scan-off-by-one, qsbr-token-in-progress,
// qsbr-wake-before-report.
func TestQSBRExplore(t *testing.T) {
	for _, x := range qsbrRows() {
		exploreRow(t, x.s, x.opts)
	}
}
