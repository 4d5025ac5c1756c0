package ctdefer

import (
	"encoding/json"
	"math"
	"math/bits"
	"time"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// LatencyBuckets is the number of buckets of a LatencyHistogram.
const LatencyBuckets = 32

// LatencyHistogram counts latencies in fixed log-scale buckets: bucket i
// holds the latencies in [2^i, 2^(i+1)) nanoseconds (bucket 0 also holds 0
// and negative values, the last one everything from 2^31 ns, about 2.1 s,
// up). The bounds are the same for every histogram, so histograms of
// different CPUs and Domains add up bucket by bucket (Merge).
//
// Stats.IPILatency is one: for each IPI claim, the time from the oldest
// post it took to the owner taking it. A quantile read from the buckets is
// the upper bound of the bucket that holds it (capped by Max): an
// overestimate by less than a factor of two.
//
// The zero value is an empty histogram. It is a plain value, safe to copy;
// the Domain keeps its live counts per CPU, lock-free, and Stats copies them.
type LatencyHistogram struct {
	// Counts[i] is the number of latencies in bucket i (see
	// LatencyBucketBound for its upper bound).
	Counts [LatencyBuckets]uint64
	// Max is the largest latency recorded.
	Max time.Duration
}

// LatencyBucketBound returns the upper bound of bucket i, 2^(i+1) ns; the
// last bucket has none (math.MaxInt64). It panics if i is out of range.
func LatencyBucketBound(i int) time.Duration {
	if i < 0 || i >= LatencyBuckets {
		panic("ctdefer: LatencyBucketBound: bucket out of range")
	}
	if i == LatencyBuckets-1 {
		return math.MaxInt64
	}
	return time.Duration(1) << (i + 1)
}

// latencyBucket returns the bucket of latency d.
func latencyBucket(d time.Duration) int {
	if d < 2 {
		return 0
	}
	return min(bits.Len64(uint64(d))-1, LatencyBuckets-1)
}

// Record adds one latency to the histogram (for histograms built outside a
// Domain: tests, aggregation).
func (h *LatencyHistogram) Record(d time.Duration) {
	h.Counts[latencyBucket(d)]++
	h.Max = max(h.Max, d)
}

// Merge adds o's counts to h.
func (h *LatencyHistogram) Merge(o LatencyHistogram) {
	for i, n := range o.Counts {
		h.Counts[i] += n
	}
	h.Max = max(h.Max, o.Max)
}

// Total returns the number of latencies recorded.
func (h LatencyHistogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0 < q <= 1) of the recorded latencies:
// the upper bound of the bucket that holds the ceil(q*Total())-th smallest,
// capped by Max. It returns 0 for an empty histogram; q outside (0, 1] is
// clamped.
func (h LatencyHistogram) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range h.Counts {
		if seen += c; seen >= rank {
			return min(LatencyBucketBound(i), h.Max)
		}
	}
	return h.Max // not reached: seen ends at total
}

// P50 returns the median (Quantile(0.5)).
func (h LatencyHistogram) P50() time.Duration { return h.Quantile(0.5) }

// P99 returns the 99th percentile (Quantile(0.99)).
func (h LatencyHistogram) P99() time.Duration { return h.Quantile(0.99) }

// MarshalJSON encodes the counts and Max (in nanoseconds) under their field
// names, so that the encoding decodes back into a LatencyHistogram, plus
// Total, P50 and P99 (nanoseconds) for readers of expvar's output.
func (h LatencyHistogram) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Counts   [LatencyBuckets]uint64
		Max      time.Duration
		Total    uint64
		P50, P99 time.Duration
	}{h.Counts, h.Max, h.Total(), h.P50(), h.P99()})
}

// latencyCounts is a CPU's live histogram: written by its owner (one
// Counter add per IPI claim, on the IPI path only), read by Stats.
type latencyCounts [LatencyBuckets]atomicx.Counter

// record counts latency d.
func (l *latencyCounts) record(d time.Duration) {
	l[latencyBucket(d)].Inc() // counter: orders nothing, read by Stats
}

// load copies the counts into h.
func (l *latencyCounts) load(h *LatencyHistogram) {
	for i := range l {
		h.Counts[i] = l[i].Load() // counter: reporting only
	}
}
