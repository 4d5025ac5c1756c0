package rtnoise_test

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/rtnoise"
)

// Pauses counts each pause at its bucket's middle, an open bucket at its
// finite bound, only what came after since, and the longest bucket's bound.
func TestPauses(t *testing.T) {
	h := &metrics.Float64Histogram{
		Counts:  []uint64{1, 2, 0, 1},
		Buckets: []float64{math.Inf(-1), 0.001, 0.003, 0.005, math.Inf(1)},
	}
	total, longest := rtnoise.Pauses(h, nil)
	// 1 at 0.5 ms, 2 at 2 ms, 1 at 5 ms (open bucket: its lower bound).
	require.Equal(t, 9500*time.Microsecond, total.Round(time.Microsecond))
	require.Equal(t, 5*time.Millisecond, longest.Round(time.Microsecond))
	total, longest = rtnoise.Pauses(h, []uint64{1, 1, 0, 1})
	require.Equal(t, 2*time.Millisecond, total.Round(time.Microsecond), "only what came after since")
	require.Equal(t, 3*time.Millisecond, longest.Round(time.Microsecond))
}
