// Package rtnoise reads the Go runtime's own interruptions from
// runtime/metrics, for package ctdefer's statistics and cmd/ctdefer's
// doctor: one reading of the garbage collector's stop-the-world histogram.
package rtnoise

import (
	"math"
	"runtime/metrics"
	"time"
)

// Pauses adds up the pauses h records beyond the counts since (nil: all of
// them), each at the middle of its bucket (an open bucket at its finite
// bound), and returns the total and the upper bound of the longest bucket
// that has any.
func Pauses(h *metrics.Float64Histogram, since []uint64) (total, longest time.Duration) {
	var sum float64
	for i, c := range h.Counts {
		n := c
		if i < len(since) {
			n -= since[i]
		}
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = 0
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		sum += float64(n) * (lo + hi) / 2
		longest = max(longest, time.Duration(hi*1e9))
	}
	return time.Duration(sum * 1e9), longest
}
