package ctdefer

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// A completed wait is matched with the hand-backs made since its delivery
// began, by slot, kind, completion and bit, and with nothing else: not with
// an entry from before its delivery that has its sequence (step 3), not
// with an IPI generation equal to its deferred sequence. A wait in progress
// keeps its entry in the log while other hand-backs come (step 4).
// Mutants caught: handed-back-ignores-kind, handback-stale-match,
// handback-trims-under-waiters.
func TestHandBackMatchIsExact(t *testing.T) {
	d, s, w := handBackDomain(t)
	bit := ctseq.Work(1) << w.info.bit
	gone := fmt.Errorf("test: %w", ErrOwnerGone)
	s.waiters.Inc() // a wait in progress: the log keeps what follows
	defer s.waiters.Dec()

	// An old hand-back at sequence 5, then a delivery served by sequence 5
	// again (after the sequence wrapped) that ran.
	d.hand.add(d, s, ticketDeferred, 5, bit, gone)
	late := ticket{kind: ticketDeferred, seq: 5, mark: d.hand.mark()}
	// A deferred delivery served by sequence 9 that ran, while an IPI of
	// generation 9 was handed back.
	ran := ticket{kind: ticketDeferred, seq: 9, mark: d.hand.mark()}
	d.hand.add(d, s, ticketIPI, 9, bit, gone)
	// A deferred delivery handed back at sequence 11, while more hand-backs
	// follow.
	back := ticket{kind: ticketDeferred, seq: 11, mark: d.hand.mark()}
	d.hand.add(d, s, ticketDeferred, 11, bit, gone)
	d.hand.add(d, &d.slots[1], ticketIPI, 3, bit, gone)

	require.NoError(t, d.hand.handedBack(s, late, bit), "an entry from before the delivery is not its hand-back")
	require.NoError(t, d.hand.handedBack(s, ran, bit), "an IPI generation is not a deferred sequence")
	require.ErrorIs(t, d.hand.handedBack(s, back, bit), ErrOwnerGone, "the delivery's own hand-back is found")
}

// The log's memory is bounded: a hand-back that finds no wait in progress
// empties it first, and Close's report keeps one entry per CPU, work and
// reason. A wait that began before a hand-back still finds it.
// Mutant caught: handback-never-trimmed.
func TestHandBackLogIsBounded(t *testing.T) {
	d, s, w := handBackDomain(t)
	bit := ctseq.Work(1) << w.info.bit
	gone := fmt.Errorf("test: %w", ErrOwnerGone)
	closed := fmt.Errorf("test: %w", ErrClosed)
	for i := range 10000 {
		d.hand.add(d, s, ticketIPI, uint64(i), bit, gone)
		d.hand.add(d, &d.slots[1], ticketDeferred, uint64(i), bit, closed)
	}
	require.Len(t, d.hand.entries, 1, "no wait was in progress: only the last hand-back is kept")
	require.Equal(t, uint64(20000), d.hand.n.Load(), "every hand-back is counted")
	report := d.hand.report()
	require.Len(t, report, 2, "Close's report: one entry per CPU, work and reason")
	require.ErrorIs(t, report[0].Err, ErrOwnerGone)
	require.ErrorIs(t, report[1].Err, ErrClosed)

	s.waiters.Inc()
	mark := d.hand.mark()
	d.hand.add(d, s, ticketDeferred, 7, bit, gone)
	d.hand.add(d, s, ticketIPI, 1, bit, gone) // a wait in progress: nothing trimmed
	require.ErrorIs(t, d.hand.handedBack(s, ticket{kind: ticketDeferred, seq: 7, mark: mark}, bit), ErrOwnerGone,
		"a wait that began before its hand-back finds it")
	require.Len(t, d.hand.entries, 3)
	s.waiters.Dec()
	d.hand.add(d, s, ticketIPI, 2, bit, gone) // no wait in progress: trims
	require.Len(t, d.hand.entries, 1)
}

// BenchmarkDeferWaitCompleted: the end of a wait whose delivery completed
// (its mark, then the look at the hand-back log), beside the same after
// 10^6 hand-backs made while no wait was in progress. Both are one load of
// the hand-back count; log-entries is what the log holds.
func BenchmarkDeferWaitCompleted(b *testing.B) {
	for _, n := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("handbacks=%d", n), func(b *testing.B) {
			d, s, w := handBackDomain(b)
			bit := ctseq.Work(1) << w.info.bit
			gone := fmt.Errorf("bench: %w", ErrOwnerGone)
			for i := range n {
				d.hand.add(d, s, ticketIPI, uint64(i), bit, gone)
			}
			b.ReportAllocs()
			for b.Loop() {
				t := ticket{kind: ticketDeferred, seq: 1, mark: d.hand.mark()}
				if err := d.completed("DeferWait", s, w, t); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(d.hand.entries)), "log-entries")
		})
	}
}
