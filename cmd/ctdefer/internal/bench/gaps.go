package bench

import (
	"runtime/metrics"
	"time"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Where the hot loop's gaps came from.
//
// Every iteration longer than the gap threshold is charged to one source,
// by what the loop can observe when it sees the gap, in this order:
//
//  1. GC: the runtime's GC cycle count or its count of stop-the-world
//     pauses (runtime/metrics) moved since the last gap.
//  2. Go preemption: the loop thread's voluntary context switches moved
//     (a preempted locked goroutine hands its P off and its thread sleeps
//     until it is back), or the process received a SIGURG, the runtime's
//     asynchronous preemption signal, since the last housekeeping entry.
//  3. Delivery: the iteration handled an item: an IPI handled at a Poll or
//     deferred work run at the previous housekeeping entry (the ctdefer
//     modes), a receive (the others).
//  4. Other: nothing the process can see: an interrupt, another task
//     (the thread's involuntary switches count it), the hypervisor.
//
// SIGURG is counted for the whole process, so a signal aimed at the
// sender's thread can be charged to the loop's next gap. The counters are
// read only when a gap is seen, and that reading is kept out of the
// iteration times.

// GapSources counts the gaps of a run by source.
type GapSources struct {
	Threshold time.Duration `json:"threshold_ns"`
	// Known: the thread's context-switch counters could be read (Linux);
	// without them a preemption is seen only through SIGURG.
	Known      bool     `json:"switches_known"`
	GC         GapCount `json:"gc"`
	Preemption GapCount `json:"go_preemption"`
	Delivery   GapCount `json:"delivery"`
	Other      GapCount `json:"other"`
	// Involuntary: the loop thread's involuntary context switches during
	// the run (another task took its CPU).
	Involuntary uint64 `json:"involuntary_switches"`
}

// GapCount is the gaps of one source: how many, and their time added up.
type GapCount struct {
	N    uint64        `json:"n"`
	Time time.Duration `json:"time_ns"`
}

func (c *GapCount) add(d time.Duration) { c.N++; c.Time += d }

// Total is every gap.
func (g GapSources) Total() GapCount {
	return GapCount{N: g.GC.N + g.Preemption.N + g.Delivery.N + g.Other.N,
		Time: g.GC.Time + g.Preemption.Time + g.Delivery.Time + g.Other.Time}
}

// merge adds o's counts.
func (g *GapSources) merge(o GapSources) {
	for _, p := range [][2]*GapCount{{&g.GC, &o.GC}, {&g.Preemption, &o.Preemption}, {&g.Delivery, &o.Delivery}, {&g.Other, &o.Other}} {
		p[0].N += p[1].N
		p[0].Time += p[1].Time
	}
	g.Involuntary += o.Involuntary
	g.Known = g.Known || o.Known
	g.Threshold = max(g.Threshold, o.Threshold)
}

// gapWatch is the loop's view of its interruptions; worker only, created
// on the loop's (locked) thread.
type gapWatch struct {
	threshold time.Duration
	applied   *uint64 // items the worker handled
	appliedAt uint64  // at the end of the previous iteration
	status    *sysx.ThreadStatus
	vol       uint64
	invol0    uint64
	sig       uint64
	samples   []metrics.Sample
	gcs       uint64
	pauses    uint64
	src       GapSources
}

func newGapWatch(threshold time.Duration, applied *uint64) *gapWatch {
	w := &gapWatch{threshold: threshold, applied: applied, appliedAt: *applied,
		samples: []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/pauses/total/gc:seconds"}}}
	w.src.Threshold = threshold
	if st, err := sysx.OpenThreadStatus(sysx.Gettid()); err == nil {
		if v, i, err := st.Switches(); err == nil {
			w.status, w.vol, w.invol0, w.src.Known = st, v, i, true
		} else {
			st.Close()
		}
	}
	w.gcs, w.pauses = w.readGC()
	w.sig = sigurgCount()
	return w
}

// readGC returns the GC cycles and stop-the-world pauses so far.
func (w *gapWatch) readGC() (cycles, pauses uint64) {
	metrics.Read(w.samples)
	if w.samples[0].Value.Kind() == metrics.KindUint64 {
		cycles = w.samples[0].Value.Uint64()
	}
	if w.samples[1].Value.Kind() == metrics.KindFloat64Histogram {
		for _, c := range w.samples[1].Value.Float64Histogram().Counts {
			pauses += c
		}
	}
	return cycles, pauses
}

// iteration is called with each iteration's time; it returns whether it
// charged a gap (and read counters, which took time the caller should not
// count).
func (w *gapWatch) iteration(d time.Duration) bool {
	handled := *w.applied != w.appliedAt
	w.appliedAt = *w.applied
	if d <= w.threshold {
		return false
	}
	cycles, pauses := w.readGC()
	sig := sigurgCount()
	switched := false
	if w.status != nil {
		if v, _, err := w.status.Switches(); err == nil {
			switched, w.vol = v != w.vol, v
		}
	}
	switch {
	case cycles != w.gcs || pauses != w.pauses:
		w.src.GC.add(d)
	case switched || sig != w.sig:
		w.src.Preemption.add(d)
	case handled:
		w.src.Delivery.add(d)
	default:
		w.src.Other.add(d)
	}
	w.gcs, w.pauses, w.sig = cycles, pauses, sig
	return true
}

// entry is called before each housekeeping entry: a signal older than
// this is not the next gap's. (Items the entry runs count in the next
// iteration, whose time the entry is part of.)
func (w *gapWatch) entry() { w.sig = sigurgCount() }

// done closes the watch and returns its counts.
func (w *gapWatch) done() GapSources {
	if w.status != nil {
		if _, i, err := w.status.Switches(); err == nil {
			w.src.Involuntary = i - w.invol0
		}
		w.status.Close()
	}
	return w.src
}
