package doctor

import (
	"errors"
	"fmt"
	"time"
)

// GroupRuntime is the Go runtime's own noise on a pinned loop.
const GroupRuntime = "go runtime"

// checkRuntime runs every scenario on the first candidate CPU and turns
// them into findings, each with its fix, the fix's measured effect and its
// price.
func (st *state) checkRuntime() []Check {
	if st.cfg.Runtime <= 0 {
		return []Check{{ID: "go-runtime", Group: GroupRuntime, Name: "Go runtime noise", Found: "skipped (-runtime 0)", Status: Unknown}}
	}
	var err error
	switch {
	case st.env.Runtime == nil:
		err = errors.New("no runtime probe")
	case len(st.cands) == 0:
		err = errors.New("no candidate CPU")
	}
	if err != nil {
		return []Check{unknown("go-runtime", GroupRuntime, "Go runtime noise", err, "")}
	}
	cpu := st.cands[0]
	res := map[string]RuntimeResult{}
	for _, sc := range Scenarios {
		r, err := st.env.Runtime(RuntimeRequest{Scenario: sc, CPU: cpu, Duration: st.cfg.Runtime, Threshold: st.cfg.Threshold})
		if err != nil {
			return []Check{unknown("go-runtime", GroupRuntime, "Go runtime noise", err, "")}
		}
		res[sc.ID] = r
		st.runtime = append(st.runtime, r)
	}
	asIs, noAsync, alloc, gcOff, noHead, all := res[ScenarioAsIs.ID], res[ScenarioNoAsync.ID], res[ScenarioAlloc.ID],
		res[ScenarioGCOff.ID], res[ScenarioNoHead.ID], res[ScenarioAllFixes.ID]
	where := fmt.Sprintf("CPU %d, %v each, beside a goroutine allocating 16 MB/s", cpu, st.cfg.Runtime)

	preempt := Check{ID: "go-preemption", Group: GroupRuntime, Name: "Go preemption (SIGURG)", Status: OK,
		Found: fmt.Sprintf("%s; %s", describeRuntime(asIs, true), where),
		Fix: fmt.Sprintf("GODEBUG=asyncpreemptoff=1, measured: %s. It removes the signals, not the preemption: "+
			"the request stays and is honoured at the loop's next function call, where the locked thread hands its P off "+
			"and sleeps until it is back (a voluntary switch). Price: a loop without calls can no longer be preempted "+
			"anywhere in the program, so a GC stop-the-world and the goroutines queued on its P wait for it", describeRuntime(noAsync, true)),
	}
	if asIs.PerSecond(float64(asIs.Signals)) >= 1 {
		preempt.Status = Warn
	}

	gc := Check{ID: "go-gc", Group: GroupRuntime, Name: "Go garbage collector", Status: OK,
		Found: fmt.Sprintf("%s; a loop that allocates: %s, longest gap %v", describeGC(asIs), describeGC(alloc), round(alloc.Longest)),
		Fix: fmt.Sprintf("keep the loop allocation-free (no mark assists are charged to it) and set GOGC=off GOMEMLIMIT=1GiB, "+
			"measured: %s, longest gap %v. Price: the heap grows to the limit before a cycle runs; size the limit well above "+
			"the live heap, or GC runs back to back near it", describeGC(gcOff), round(gcOff.Longest)),
	}
	if asIs.GCs > 0 {
		gc.Status = Warn
	}

	head := Check{ID: "go-headroom", Group: GroupRuntime, Name: "GOMAXPROCS headroom", Status: OK,
		Found: fmt.Sprintf("GOMAXPROCS %d: longest gap %v, %.1f voluntary switches/s; with GOMAXPROCS=1 (no P to spare): longest gap %v, %.1f voluntary, %.1f involuntary switches/s",
			asIs.GOMAXPROCS, round(asIs.Longest), asIs.PerSecond(float64(max(asIs.Voluntary, 0))),
			round(noHead.Longest), noHead.PerSecond(float64(max(noHead.Voluntary, 0))), noHead.PerSecond(float64(max(noHead.Involuntary, 0)))),
		Fix: "keep GOMAXPROCS above the number of pinned workers (runtime.GOMAXPROCS(workers+1)): a locked thread that yields its P " +
			"waits until every goroutine queued there has run. Price: one more thread may run Go code at a time, on the housekeeping CPUs",
	}
	if asIs.GOMAXPROCS <= 1 {
		head.Status = Warn
	}

	allFixes := Check{ID: "go-all-fixes", Group: GroupRuntime, Name: "all the fixes together", Status: OK,
		Found: fmt.Sprintf("%s; %s", describeRuntime(all, true), describeGC(all)),
		Fix:   "what remains is the OS's and the hypervisor's: see [isolation] and [noise]",
	}
	return []Check{preempt, gc, head, allFixes}
}

// describeRuntime writes the signals, switches and longest gap per second.
func describeRuntime(r RuntimeResult, gap bool) string {
	s := fmt.Sprintf("%.1f SIGURG/s, the loop thread %s voluntary and %s involuntary switches/s",
		r.PerSecond(float64(r.Signals)), perSecond(r, r.Voluntary), perSecond(r, r.Involuntary))
	if gap {
		s += fmt.Sprintf(", longest gap %v", round(r.Longest))
	}
	return s
}

// describeGC writes the GC cycles and stop-the-world time per second.
func describeGC(r RuntimeResult) string {
	return fmt.Sprintf("%.1f GC cycles/s, stop-the-world %v/s", r.PerSecond(float64(r.GCs)),
		round(time.Duration(r.PerSecond(float64(r.Pause)))))
}

func perSecond(r RuntimeResult, n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f", r.PerSecond(float64(n)))
}

// round keeps three significant figures of a duration, at least 1 µs
// resolution above it.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
