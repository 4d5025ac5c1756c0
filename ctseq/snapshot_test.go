package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// A Snapshot reports the sequence, state and pending work of the word it was
// taken from, and whether it is quiescent.
// Mutants caught: none.
func TestSnapshotAccessors(t *testing.T) {
	var w ctseq.Word
	w.UserEnter()
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(2)|ctseq.Of(11))), "User accepts work")
	s := w.Snapshot()
	require.Equal(t, uint64(1), s.Seq(), "one transition from the zero word")
	require.Equal(t, ctseq.User, s.State(), "snapshot state")
	require.Equal(t, ctseq.Of(2)|ctseq.Of(11), s.Work(), "snapshot shows the pending bits")
	require.True(t, s.Quiescent(), "a User snapshot is quiescent")
	require.True(t, w.QuiescentSince(s), "a quiescent snapshot is a quiescent state in itself")

	w.KernelEnter()
	k := w.Snapshot()
	require.Equal(t, ctseq.Kernel, k.State(), "snapshot state after KernelEnter")
	require.False(t, k.Quiescent(), "a Kernel snapshot is not quiescent")
	require.Zero(t, k.Work(), "claimed bits are cleared by the time KernelEnter returns")

	w.IdleEnter()
	require.True(t, w.Snapshot().Quiescent(), "an Idle snapshot is quiescent")
}

// Mutant caught: quiescent-ignores-sequence.
func TestQuiescentSinceAfterTransitions(t *testing.T) {
	// 1 .. 2^SeqBits-1 transitions after a Kernel snapshot are always seen.
	limit := uint64(1)<<ctseq.SeqBits - 1
	if limit > 17 {
		limit = 17
	}
	for n := uint64(1); n <= limit; n++ {
		var w ctseq.Word
		s := w.Snapshot()
		require.False(t, w.QuiescentSince(s), "n=%d: no transition yet", n)
		for i := uint64(0); i < n; i++ {
			step(&w, i)
		}
		require.True(t, w.QuiescentSince(s), "%d transitions after a Kernel snapshot must be seen", n)
	}
	if ctseq.SeqBits <= 8 {
		// Documented wrap behaviour (narrow build): after exactly
		// 2^SeqBits transitions the sequence reads equal again, a false
		// "not yet", never a false "yes".
		var w ctseq.Word
		s := w.Snapshot()
		for i := uint64(0); i < 1<<ctseq.SeqBits; i++ {
			step(&w, i)
		}
		require.False(t, w.QuiescentSince(s), "after 2^SeqBits transitions the sequence reads equal (documented)")
	}
}

// Nested Enter and Exit inside one kernel stretch are not a quiescent state;
// only the outer Exit is.
// Mutants caught: none.
func TestQuiescentSinceNotInSameKernelStretch(t *testing.T) {
	var w ctseq.Word
	w.UserEnter()
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(0))), "User accepts work")
	outer := w.Enter()
	require.True(t, outer.Outer(), "Enter from User is the outer level")
	s := w.Snapshot()
	require.False(t, s.Quiescent(), "snapshot in Kernel")
	for depth := 0; depth < 3; depth++ {
		e := w.Enter()
		require.False(t, w.QuiescentSince(s), "nested Enter (depth %d) is not a quiescent state", depth)
		require.False(t, accepted(w.SetWorkIfUser(ctseq.Of(1))), "nested level is still in Kernel: refuse")
		w.Exit(e)
		require.False(t, w.QuiescentSince(s), "nested Exit (depth %d) is not a quiescent state", depth)
	}
	require.False(t, w.QuiescentSince(s), "still the same kernel stretch")
	w.Exit(outer)
	require.True(t, w.QuiescentSince(s), "the outer Exit returns to User: quiescent")
}

// TestQuiescentSinceAcrossWrapInUser: after exactly 2^SeqBits transitions the
// sequence reads equal again; an owner that is then in User is still
// reported quiescent (the false "not yet" of a wrap is limited to an owner
// that is in the kernel again). Only the narrow build (ctdefer_narrowseq,
// which scripts/check.sh runs) can wrap in a test; the default build checks
// the same property without the wrap.
// Mutants caught: none.
func TestQuiescentSinceAcrossWrapInUser(t *testing.T) {
	var w ctseq.Word
	snap := w.Snapshot()
	transitions := 2 // Quiesce, then UserEnter: no wrap in the default build
	if bits := ctseq.SeqBits; bits <= 4 {
		transitions = 1 << bits // a variable shift: the constant overflows int on 32-bit
	}
	for range transitions - 1 {
		w.Quiesce()
	}
	w.UserEnter()
	now := w.Snapshot()
	if ctseq.SeqBits <= 4 {
		require.Equal(t, snap.Seq(), now.Seq(), "the sequence wrapped back to the snapshot's value")
	}
	require.True(t, w.QuiescentSince(snap), "an owner in User is quiescent whatever its sequence")
	w.KernelEnter()
	if ctseq.SeqBits <= 4 {
		// One more transition: the sequence differs again.
		require.True(t, w.QuiescentSince(snap), "after the next transition the sequence differs")
	}
}
