package bench

import (
	"runtime"
	"testing"
	"time"
)

// Each source is charged when the loop can see it: an item handled, a GC
// cycle, a voluntary switch (the thread slept), and nothing at all; an
// iteration under the threshold is no gap. A loaded machine can switch
// the thread away in between (then the gap is the preemption's): each
// case gets a few tries.
func TestGapWatch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var applied uint64
	const gap = 20 * time.Microsecond
	w := newGapWatch(10*time.Microsecond, &applied)
	if w.iteration(time.Microsecond) {
		t.Errorf("an iteration under the threshold was a gap")
	}
	cases := []struct {
		name   string
		cause  func()
		source func(GapSources) GapCount
	}{
		{"delivery", func() { applied++ }, func(g GapSources) GapCount { return g.Delivery }},
		{"GC", runtime.GC, func(g GapSources) GapCount { return g.GC }},
		{"other", func() {}, func(g GapSources) GapCount { return g.Other }},
	}
	if w.src.Known {
		cases = append(cases, struct {
			name   string
			cause  func()
			source func(GapSources) GapCount
		}{"preemption", func() { time.Sleep(time.Millisecond) }, func(g GapSources) GapCount { return g.Preemption }})
	}
	for _, c := range cases {
		ok := false
		for range 20 {
			w.iteration(gap) // a fresh baseline
			before := c.source(w.src)
			c.cause()
			w.iteration(gap)
			if c.source(w.src).N == before.N+1 {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: never charged to its source: %+v", c.name, w.src)
		}
	}
	src := w.done()
	if src.Total().N < uint64(2*len(cases)) || src.Total().Time != time.Duration(src.Total().N)*gap {
		t.Errorf("total %+v of %+v", src.Total(), src)
	}
}

// Rounds add up.
func TestGapSourcesMerge(t *testing.T) {
	a := GapSources{Threshold: 10, GC: GapCount{1, 5}, Other: GapCount{2, 7}, Involuntary: 3}
	a.merge(GapSources{Threshold: 10, Known: true, GC: GapCount{1, 5}, Delivery: GapCount{4, 1}, Involuntary: 1})
	want := GapSources{Threshold: 10, Known: true, GC: GapCount{2, 10}, Delivery: GapCount{4, 1}, Other: GapCount{2, 7}, Involuntary: 4}
	if a != want {
		t.Errorf("merged %+v, want %+v", a, want)
	}
}
