package bench

import (
	"time"

	"github.com/ctdefer/ctdefer/stats"
)

// The benchmarks record durations in stats.Histogram: log-linear buckets
// at most 1/32 of their values wide, whose Record never allocates, so that
// the hot loop can call it on every iteration.

// CDFPoint is one point of a cumulative distribution: the fraction of
// values at or below V.
type CDFPoint struct {
	V        time.Duration `json:"v_ns"`
	Fraction float64       `json:"fraction"`
}

// cdf returns h's distribution at every non-empty bucket's upper bound
// (the last point is the largest value, at fraction 1).
func cdf(h *stats.Histogram) []CDFPoint {
	var out []CDFPoint
	var seen uint64
	for bound, c := range h.Buckets() {
		seen += c
		out = append(out, CDFPoint{V: bound, Fraction: float64(seen) / float64(h.Total())})
	}
	return out
}
