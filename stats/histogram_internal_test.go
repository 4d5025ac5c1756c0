package stats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// recordN counts a duration n times, as n Records would.
// Mutants caught: none.
func TestRecordN(t *testing.T) {
	var h, r Histogram
	h.recordN(time.Microsecond, 0)
	require.Zero(t, h.Total(), "n = 0 counts nothing")
	h.recordN(time.Microsecond, 3)
	h.recordN(time.Millisecond, 2)
	for range 3 {
		r.Record(time.Microsecond)
	}
	r.Record(time.Millisecond)
	r.Record(time.Millisecond)
	require.Equal(t, r.Total(), h.Total())
	for _, q := range []float64{0.1, 0.5, 0.6, 0.9, 1} {
		require.Equal(t, r.Quantile(q), h.Quantile(q), "quantile %v", q)
	}
}
