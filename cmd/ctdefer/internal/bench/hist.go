package bench

import (
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets, HdrHistogram's layout
// with 5 significant bits: values below 64 ns are exact, above that each
// power of two is split into 32 buckets, so a bucket is at most 1/32
// (about 3 %) of its value wide. Record is a few instructions and never
// allocates, so the hot loop can call it on every iteration.
//
// The zero Histogram is empty and ready; it is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	subBits     = 5
	sub         = 1 << subBits // buckets per power of two
	exact       = 2 * sub      // values below this have a bucket each
	histBuckets = exact + (64-subBits-1)*sub
)

// bucket returns the index of v's bucket.
func bucket(v uint64) int {
	if v < exact {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1) // >= 1
	top := int(v >> shift)                 // in [sub, 2*sub)
	return exact + (shift-1)*sub + top - sub
}

// upper returns the largest value of bucket i.
func upper(i int) uint64 {
	if i < exact {
		return uint64(i)
	}
	shift := (i-exact)/sub + 1
	top := uint64((i-exact)%sub + sub)
	return (top+1)<<shift - 1
}

// Record counts d (negative counts as 0).
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucket(v)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded (exact, not bucketed).
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q <= 1), capped at Max; 0 if empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}

// Mean returns the mean, from bucket upper bounds (an overestimate by at
// most a bucket's width).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	var sum float64
	for i, c := range h.counts {
		if c != 0 {
			sum += float64(c) * float64(upper(i))
		}
	}
	return time.Duration(sum / float64(h.n))
}

// CDFPoint is one point of a cumulative distribution: the fraction of
// values at or below V.
type CDFPoint struct {
	V        time.Duration `json:"v_ns"`
	Fraction float64       `json:"fraction"`
}

// CDF returns the distribution at every non-empty bucket's upper bound
// (the last point is Max, at fraction 1).
func (h *Histogram) CDF() []CDFPoint {
	var out []CDFPoint
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		out = append(out, CDFPoint{V: min(time.Duration(upper(i)), h.max), Fraction: float64(seen) / float64(h.n)})
	}
	return out
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}
