package bench

import (
	"testing"
	"time"
)

// The Queue mode runs as a hot-loop mode: it delivers every value it
// sends, at a rate and back to back, without error.
func TestQueueMode(t *testing.T) {
	var mode hotMode
	for _, m := range hotModes {
		if m.name == "Queue" {
			mode = m
		}
	}
	if mode.make == nil {
		t.Fatal("no Queue mode among the hot-loop modes")
	}
	s := hotSetup{sender: 0, target: 1, dur: 20 * time.Millisecond, entryEvery: 100 * time.Microsecond, clockNs: 25}
	for _, rate := range []float64{1e4, 0} {
		run, err := runHot(s, mode, rate)
		if err != nil || run.Err != "" {
			t.Fatalf("rate %v: %v %s", rate, err, run.Err)
		}
		if run.Sent == 0 || run.Deferred+run.IPIs == 0 {
			t.Fatalf("rate %v: sent %d, deferred %d, IPIs %d", rate, run.Sent, run.Deferred, run.IPIs)
		}
	}
}
