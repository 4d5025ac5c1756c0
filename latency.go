package ctdefer

import (
	"math"
	"math/bits"
	"time"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/statslink"
	"github.com/ctdefer/ctdefer/stats"
)

// latencyBuckets is the number of buckets of a CPU's live IPI latency
// counts: bucket i counts the latencies in [2^i, 2^(i+1)) ns (bucket 0 also
// 0 and negative ones, the last one everything from 2^31 ns up).
const latencyBuckets = 32

// latencyBucket returns the bucket of latency d.
func latencyBucket(d time.Duration) int {
	if d < 2 {
		return 0
	}
	return min(bits.Len64(uint64(d))-1, latencyBuckets-1)
}

// latencyCounts is a CPU's live histogram: written by its owner (one
// Counter add per IPI claim, on the IPI path only), read by Stats.
type latencyCounts [latencyBuckets]atomicx.Counter

// record counts latency d.
func (l *latencyCounts) record(d time.Duration) {
	l[latencyBucket(d)].Inc() // counter: orders nothing, read by Stats
}

// load copies the counts into h, whose largest duration is worst. Each count
// goes to the Histogram bucket of its power of two's largest duration, so
// that a quantile of h is, as it was from the counts, the bound of the power
// of two that holds it (capped by worst); the last one's, which has no bound,
// goes to h's last bucket. The highest power of two with counts is recorded
// at worst itself, which it holds: h's largest duration is then worst, and
// its quantiles there are capped by it.
func (l *latencyCounts) load(h *stats.Histogram, worst time.Duration) {
	*h = stats.Histogram{}
	var counts [latencyBuckets]uint64
	top := -1
	for i := range l {
		if counts[i] = l[i].Load(); counts[i] != 0 { // counter: reporting only
			top = i
		}
	}
	for i, c := range counts {
		d := time.Duration(math.MaxInt64)
		if i < latencyBuckets-1 {
			d = 1<<(i+1) - 1
		}
		if i == top {
			d = min(d, max(worst, 1<<i)) // worst is in this power of two, unless it raced with a count
		}
		statslink.RecordN(h, d, c)
	}
}
