package stats_test

import (
	"fmt"
	"time"

	"github.com/ctdefer/ctdefer/stats"
)

// A Histogram has fixed log-linear buckets; a quantile is the upper bound
// of a bucket, capped by the largest duration recorded.
func ExampleHistogram() {
	var h stats.Histogram // a Snapshot's IPILatency is one
	for range 98 {
		h.Record(time.Microsecond)
	}
	h.Record(time.Millisecond)
	h.Record(3 * time.Millisecond)
	fmt.Println("n:", h.Total(), "p50:", h.Quantile(0.5), "p99:", h.Quantile(0.99), "max:", h.Quantile(1))
	// Output:
	// n: 100 p50: 1.007µs p99: 1.015807ms max: 3ms
}
