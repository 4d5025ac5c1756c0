package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// SeqReached treats the sequence as a ring: the sequence after the last one
// (0, after a wrap) is past it, and a target just ahead is not reached.
// Mutant caught: seqreached-no-wrap-mask.
func TestSeqReachedAcrossWrap(t *testing.T) {
	last := ctseq.SeqMask
	type tc struct {
		cur, target uint64
		want        bool
	}
	cases := []tc{
		{0, last, true},         // one transition past the last sequence: wrapped to 0
		{last, last, true},      // at it
		{last, 0, false},        // the target is one ahead, across the wrap
		{0, last - 1, last > 3}, // two past: ordered only if 2 < 2^(SeqBits-1)
	}
	if ctseq.SeqBits > 2 { // the narrow build orders only sequences one apart
		cases = append(cases,
			tc{1, last - 1, true},  // three past, across the wrap
			tc{last - 1, 1, false}, // three ahead, across the wrap
			tc{5, 3, true})         // no wrap in between
	}
	for _, c := range cases {
		require.Equal(t, c.want, ctseq.SeqReached(c.cur, c.target),
			"SeqReached(%d, %d) with SeqMask %d", c.cur, c.target, last)
	}
}
