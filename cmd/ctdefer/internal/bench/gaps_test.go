package bench

import (
	"runtime"
	"testing"
	"time"
)

// Each source is charged when the loop can see it: an item handled, a GC
// cycle, a voluntary switch (the thread slept), and nothing at all; an
// iteration under the threshold is no gap.
func TestGapWatch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var applied uint64
	const gap = 20 * time.Microsecond
	w := newGapWatch(10*time.Microsecond, &applied)
	if w.iteration(time.Microsecond) {
		t.Errorf("an iteration under the threshold was a gap")
	}
	applied++
	w.iteration(gap)
	runtime.GC()
	w.iteration(gap)
	if w.src.Known {
		time.Sleep(time.Millisecond)
		w.iteration(gap)
	}
	w.iteration(gap)
	src := w.done()
	want := GapSources{Threshold: 10 * time.Microsecond, Known: src.Known, Delivery: GapCount{1, gap}, GC: GapCount{1, gap}, Other: GapCount{1, gap},
		Involuntary: src.Involuntary}
	if src.Known {
		want.Preemption = GapCount{1, gap}
	}
	if src != want {
		t.Errorf("sources %+v, want %+v", src, want)
	}
	if got := src.Total().N; got != want.Total().N {
		t.Errorf("total %d", got)
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
