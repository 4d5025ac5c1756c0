package stats_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/stats"
)

// The histogram's buckets, quantiles and encoding.
// Mutants caught: histogram-quantile-rank, histogram-fine-bucket.
func TestHistogram(t *testing.T) {
	var h stats.Histogram
	require.Zero(t, h.Quantile(0.5), "empty")
	require.Zero(t, h.Total())
	for d, bound := range map[time.Duration]time.Duration{
		-5: 0, 0: 0, 1: 1, 63: 63, 64: 65, 65: 65, 127: 127, 128: 131, 1000: 1007, time.Second: 1_006_632_959,
	} {
		var two stats.Histogram
		two.Record(d)
		two.Record(bound)
		require.Equal(t, uint64(2), two.Total())
		require.Equal(t, []time.Duration{bound}, bucketBounds(two), "%v and %v share a bucket", d, bound)
		two.Record(bound + 1)
		require.Equal(t, []time.Duration{bound, bound + 1}, bucketBounds(two), "%v's bucket ends at %v", d, bound)
		if d >= 64 {
			require.LessOrEqual(t, float64(bound-d), float64(d)/32, "a bucket is at most 1/32 of its durations wide")
		}
	}
	var far stats.Histogram
	far.Record(1 << 40)
	far.Record(1 << 62)
	require.Equal(t, []time.Duration{1 << 62}, bucketBounds(far), "the last bucket has no bound: it ends at the largest")
	require.Equal(t, time.Duration(1<<62), far.Quantile(0.5))

	for range 98 {
		h.Record(time.Microsecond)
	}
	h.Record(time.Millisecond)
	h.Record(time.Millisecond)
	require.Equal(t, uint64(100), h.Total())
	require.Equal(t, 1007*time.Nanosecond, h.Quantile(0.5), "the bound of 1µs's bucket")
	require.Equal(t, 1007*time.Nanosecond, h.Quantile(0.98))
	require.Equal(t, time.Millisecond, h.Quantile(0.99), "capped by the largest")
	require.Equal(t, time.Millisecond, h.Quantile(1))
	require.Equal(t, 1007*time.Nanosecond, h.Quantile(-1), "clamped to the smallest")

	var m stats.Histogram
	m.Record(time.Second)
	m.Merge(h)
	require.Equal(t, uint64(101), m.Total())
	require.Equal(t, time.Second, m.Quantile(1))

	b, err := json.Marshal(h)
	require.NoError(t, err)
	require.JSONEq(t, `{"Total": 100, "P50": 1007, "P99": 1000000, "Max": 1000000, "Buckets": [[1007, 98], [1000000, 2]]}`, string(b))
	b, err = json.Marshal(stats.Histogram{})
	require.NoError(t, err)
	require.JSONEq(t, `{"Total": 0, "P50": 0, "P99": 0, "Max": 0, "Buckets": []}`, string(b))
}

// bucketBounds returns the bounds h.Buckets yields.
func bucketBounds(h stats.Histogram) []time.Duration {
	var bounds []time.Duration
	for b := range h.Buckets() {
		bounds = append(bounds, b)
	}
	return bounds
}
