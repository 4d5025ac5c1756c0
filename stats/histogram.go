package stats

import (
	"encoding/json"
	"iter"
	"math"
	"math/bits"
	"time"

	"github.com/ctdefer/ctdefer/internal/statslink"
)

// Histogram counts durations in log-linear buckets (HdrHistogram's layout
// with 5 significant bits): durations below 64 ns have a bucket each, and
// above that each power of two is split into 32 buckets, so that a bucket is
// at most 1/32 (about 3 %) of its values wide. Negative durations count as
// 0; the last bucket holds everything from about 64 s up. Every Histogram
// has the same buckets, so histograms add up (Merge).
//
// A quantile read from the buckets is the upper bound of the bucket that
// holds it, capped by the largest duration recorded (which is kept exactly):
// an overestimate by at most a bucket's width.
//
// Snapshot.IPILatency is one. cmd/ctdefer's bench records its own latencies in
// one, with Record, which allocates only at the first count.
//
// The zero value is empty and ready, and costs one word: the counts (about
// 8 KB) are allocated at the first count. Like a slice, a Histogram shares
// its counts with its copies: Record into one copy records into both (Merge
// into a zero Histogram makes an independent copy). Not safe for concurrent
// use.
type Histogram struct {
	counts *[histBuckets]uint64 // nil until the first count: an empty Histogram costs a word
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits // buckets per power of two
	histExact   = 2 * histSub      // durations below this have a bucket each
	histOctaves = 30               // powers of two split into buckets, from histExact up
	histBuckets = histExact + histOctaves*histSub
)

// histBucket returns the index of v's bucket.
func histBucket(v uint64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1) // >= 1
	if shift > histOctaves {
		return histBuckets - 1
	}
	top := int(v >> shift) // in [histSub, 2*histSub)
	return histExact + (shift-1)*histSub + top - histSub
}

// histUpper returns the largest duration of bucket i (math.MaxInt64 for the
// last one, which has no bound).
func histUpper(i int) time.Duration {
	if i < histExact {
		return time.Duration(i)
	}
	if i == histBuckets-1 {
		return math.MaxInt64
	}
	shift := (i-histExact)/histSub + 1
	top := int64((i-histExact)%histSub + histSub)
	return time.Duration((top+1)<<shift - 1)
}

func init() {
	statslink.RecordN = func(h any, d time.Duration, n uint64) { h.(*Histogram).recordN(d, n) }
}

// recordN counts d n times: for counts kept elsewhere, such as a CPU's live
// latency counts, read into a Histogram (package ctdefer, through
// internal/statslink).
func (h *Histogram) recordN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	h.alloc()
	h.counts[histBucket(uint64(max(d, 0)))] += n
	h.n += n
	h.max = max(h.max, d)
}

// Record counts d.
func (h *Histogram) Record(d time.Duration) {
	h.alloc()
	h.counts[histBucket(uint64(max(d, 0)))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	if o.counts != nil {
		h.alloc()
		for i, c := range o.counts {
			h.counts[i] += c
		}
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// alloc gives h its counts at its first count.
func (h *Histogram) alloc() {
	if h.counts == nil {
		h.counts = new([histBuckets]uint64)
	}
}

// Total returns the number of durations recorded.
func (h Histogram) Total() uint64 { return h.n }

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations:
// the upper bound of the bucket that holds the ceil(q*Total())-th smallest,
// capped by the largest. Quantile(1) is the largest duration recorded,
// exactly. It returns 0 for an empty histogram; q outside (0, 1] is clamped.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for bound, c := range h.Buckets() {
		if seen += c; seen >= rank {
			return bound
		}
	}
	return h.max // not reached: seen ends at Total
}

// Buckets yields each non-empty bucket, in increasing order: its upper
// bound, capped by the largest duration recorded (so that the last bound is
// that duration), and its count.
func (h Histogram) Buckets() iter.Seq2[time.Duration, uint64] {
	return func(yield func(time.Duration, uint64) bool) {
		if h.counts == nil {
			return
		}
		for i, c := range h.counts {
			if c != 0 && !yield(min(histUpper(i), h.max), c) {
				return
			}
		}
	}
}

// MarshalJSON encodes the histogram for readers of expvar's output (and
// others): Total, P50, P99 and Max (durations in nanoseconds), and Buckets,
// the non-empty buckets as [upper bound, count] pairs (as Buckets yields
// them).
func (h Histogram) MarshalJSON() ([]byte, error) {
	buckets := [][2]int64{}
	for bound, c := range h.Buckets() {
		buckets = append(buckets, [2]int64{int64(bound), int64(c)})
	}
	return json.Marshal(struct {
		Total         uint64
		P50, P99, Max time.Duration
		Buckets       [][2]int64
	}{h.n, h.Quantile(0.5), h.Quantile(0.99), h.Quantile(1), buckets})
}
