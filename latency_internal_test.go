package ctdefer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/stats"
)

// A CPU's live latency counts have one bucket per power of two, and read
// into a Histogram each keeps its power of two's bound: a quantile is that
// bound, capped by the worst latency.
// Mutants caught: histogram-bucket-off-by-one, histogram-load-wrong-power.
func TestLatencyCounts(t *testing.T) {
	for d, bucket := range map[time.Duration]int{
		-5: 0, 0: 0, 1: 0, 2: 1, 3: 1, 4: 2, 1023: 9, 1024: 10, time.Second: 29, 1 << 31: 31, 1 << 40: 31,
	} {
		require.Equal(t, bucket, latencyBucket(d), "%v", d)
	}

	var l latencyCounts
	for range 98 {
		l.record(time.Microsecond)
	}
	l.record(time.Millisecond)
	l.record(time.Millisecond)
	var h stats.Histogram
	l.load(&h, time.Millisecond)
	require.Equal(t, uint64(100), h.Total())
	require.Equal(t, 1023*time.Nanosecond, h.Quantile(0.5), "the bound of 1µs's power of two")
	require.Equal(t, time.Millisecond, h.Quantile(0.99), "capped by the worst")

	l = latencyCounts{}
	l.record(3 * time.Second)
	l.load(&h, 3*time.Second)
	require.Equal(t, 3*time.Second, h.Quantile(0.5), "the last power of two has no bound")
	require.Equal(t, uint64(1), h.Total())
}
