//go:build ctdefer_explore

package explore_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// threeSenders is too big to enumerate: three senders with two items each
// (bits spread over the work field) and three round trips of the owner.
var threeSenders = sendersConfig{
	senders: [][]int{{0, ctseq.WorkBits - 1}, {1, 8}, {7, 2}},
	rounds:  3,
}

// FuzzCtseqSchedules runs the three-senders scenario over ctseq.Word once
// per input, using the input bytes as the scheduler's choices (see
// explore.FromBytes): every input is a valid schedule, and the fuzzer's
// coverage feedback steers it to new interleavings. No schedule may violate
// the word's invariants (docs/design/word.md). Without -fuzz, the seed
// corpus (below and in testdata/fuzz) runs.
//
//	go test -tags ctdefer_explore -run '^$' -fuzz FuzzCtseqSchedules -fuzztime 20s ./internal/explore/
func FuzzCtseqSchedules(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3})
	f.Add([]byte{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3})
	s := sendersScenario("ctseq/three-senders", realWord, threeSenders)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := explore.FromBytes(s, data); err != nil {
			var v *explore.Violation
			errors.As(err, &v)
			t.Fatalf("%v\nschedule=%v\n%s", err, v.Schedule, v.TraceString(40))
		}
	})
}

// TestRandomSchedules runs what the fuzzer does (one run per byte string)
// with 10,000 fixed pseudo-random byte strings and no coverage guidance over
// the big scenario, on ctseq.Word with the per-step peeks off, requiring no
// violation. The catalogue's setwork-two-atomic-random selects it: random
// schedules find the two-atomic double execution in few tries, without the
// explorer's enumeration.
func TestRandomSchedules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := sendersScenario("ctseq/three-senders", blind(realWord), threeSenders)
	data := make([]byte, 64)
	for try := 1; try <= 10000; try++ {
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := explore.FromBytes(s, data); err != nil {
			t.Fatalf("ctseq/three-senders: random schedule %d: %v", try, err)
		}
	}
}
