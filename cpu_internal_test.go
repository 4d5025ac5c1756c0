package ctdefer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Internal tests of cpu.go's completions (each names the catalogue mutants
// it catches), for guarantees that the public API shows only through a
// race: they read the slot's completion words from
// inside a handler, where the outcome does not depend on any scheduling.

// A deferred delivery's completion (doneSeq, which DeferWait polls) is
// published after its handler has run, not before.
// Mutant caught: completion-before-drain.
func TestDeferredCompletionAfterHandler(t *testing.T) {
	var during []uint64 // doneSeq seen by the handler
	d, c, w := mutInternalDomain(t, func(s *slot) { during = append(during, s.doneSeq.Load()) })
	s := &d.slots[0]
	s.waiters.Inc() // as DeferWait does before its delivery: the entry must publish
	defer s.waiters.Dec()
	c.UserEnter()
	how, err := d.Defer(0, w)
	require.NoError(t, err)
	require.Equal(t, Deferred, how)
	ticket := servedBy(s.word.Snapshot()) // the entry that runs it, which DeferWait waits for
	c.KernelEnter()
	require.Len(t, during, 1, "the kernel entry ran the work once")
	require.False(t, doneReached(during[0], ticket),
		"doneSeq %d already reached the ticket %d while the handler ran: a DeferWait could return before the work has run", during[0], ticket)
	require.Equal(t, ticket, s.doneSeq.Load(), "after the entry, doneSeq is the entry's sequence")
}

// An IPI's completion (ipiDone, which IPI, Send and DeferWait poll) is
// published after its handler has run, and is the generation the post
// returned: the claim advanced the mailbox's generation.
// Mutants caught: ipi-completion-before-drain, claim-keeps-generation.
func TestIPICompletionAfterHandler(t *testing.T) {
	var during []uint64 // ipiDone seen by the handler
	d, c, w := mutInternalDomain(t, func(s *slot) { during = append(during, s.ipiDone.Load()) })
	s := &d.slots[0]
	for round := 1; round <= 2; round++ {
		ticket := s.mbox.v.Load()>>mboxGenShift + 1 // the generation a post returns (mailbox.go)
		how, err := d.Defer(0, w)
		require.NoError(t, err)
		require.Equal(t, IPI, how, "the owner is in the kernel")
		require.True(t, c.Poll(), "Poll handles the IPI")
		require.Len(t, during, round, "the poll ran the work once")
		require.Less(t, during[round-1], ticket,
			"round %d: ipiDone already reached the ticket while the handler ran: a waiter could return before the work has run", round)
		require.Equal(t, ticket, s.ipiDone.Load(), "round %d: after the poll, ipiDone is the post's generation", round)
	}
}

// A completion published long ago must not answer a later waiter: SeqReached
// orders sequences only within (SeqMask+1)/2 transitions, so the owner
// retires doneSeq at a UserEnter that finds no waiter (retireDone). The
// stale value here is the next ticket plus 8: what a completion published
// SeqMask+1 - 8 transitions before that ticket reads as, a little "ahead" of
// it.
// Mutants caught: done-never-retired, done-retired-under-waiter.
func TestStaleCompletionIsRetired(t *testing.T) {
	var ran int
	d, c, w := mutInternalDomain(t, func(*slot) { ran++ })
	s := &d.slots[0]
	stale := (s.word.Snapshot().Seq() + 2 + 8) & ctseq.SeqMask // the next ticket is Seq()+2
	s.doneSeq.Store(stale)
	c.UserEnter() // no waiter: the exit retires the stale value
	require.Equal(t, doneNone, s.doneSeq.Load(), "UserEnter without waiters retires doneSeq")

	s.waiters.Inc() // a waiter, as DeferWait: before its delivery CAS
	defer s.waiters.Dec()
	how, err := d.Defer(0, w)
	require.NoError(t, err)
	require.Equal(t, Deferred, how)
	ticket := servedBy(s.word.Snapshot())
	require.True(t, ctseq.SeqReached(stale, ticket), "the stale value would have answered the ticket")
	require.False(t, doneReached(s.doneSeq.Load(), ticket), "a waiter must not see its work done before the entry that runs it")
	c.KernelEnter()
	require.Equal(t, 1, ran)
	require.True(t, doneReached(s.doneSeq.Load(), ticket), "the entry publishes its completion")

	// With a waiter registered, the exit leaves the published value alone.
	c.UserEnter()
	require.Equal(t, ticket, s.doneSeq.Load(), "a UserEnter with a waiter keeps doneSeq")
	c.KernelEnter()
}
