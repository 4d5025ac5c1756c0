package ctseq

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Work accepted in a User word at the last sequence is served by the entry
// that wraps the sequence to 0: ServedBy names that entry, and a waiter
// comparing with SeqReached sees it reached. The word is built at the last
// sequence directly (2^45 transitions are out of reach).
// Mutant caught: servedby-no-wrap-mask.
func TestServedByAtWrap(t *testing.T) {
	var w Word
	w.v.Store(SeqMask<<seqShift | rawUser) // a User word, no work, at the last sequence
	require.Equal(t, User, w.Snapshot().State(), "setup: a User word")
	require.Equal(t, SeqMask, w.Snapshot().Seq(), "setup: at the last sequence")
	at, ok := w.SetWorkIfUserAt(Of(3))
	require.True(t, ok, "a User word accepts work")
	require.Equal(t, Of(3), w.KernelEnter(), "the entry returns the work")
	entry := w.Snapshot().Seq()
	require.Zero(t, entry, "the entry wrapped the sequence to 0")
	require.Equal(t, entry, at.ServedBy(), "ServedBy names the entry that ran the work")
	require.True(t, SeqReached(entry, at.ServedBy()), "a waiter for ServedBy sees the entry reached")
}
