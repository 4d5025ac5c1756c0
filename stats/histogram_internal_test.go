package stats

import (
	"testing"
	"time"
)

// An empty Histogram holds no counts (Stats allocates nothing for a CPU
// that had no IPIs); after its first Record, recording allocates nothing.
func TestHistogramAllocatesOnce(t *testing.T) {
	var h Histogram
	if h.counts != nil {
		t.Fatal("a zero Histogram has counts")
	}
	h.Record(time.Microsecond)
	if n := testing.AllocsPerRun(100, func() { h.Record(3 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v times per call after the first", n)
	}
	var m Histogram
	m.Merge(Histogram{})
	if m.counts != nil {
		t.Fatal("merging an empty Histogram allocated counts")
	}
}
