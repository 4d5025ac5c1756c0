package ctseq

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Work accepted in a User word at the last sequence is served by the entry
// that wraps the sequence to 0: Seq()+1 modulo SeqMask+1 names that entry,
// and a waiter comparing with SeqReached sees it reached. The word is built
// at the last sequence directly (2^45 transitions are out of reach).
// ctdefer's servedBy has the arithmetic: servedby-no-wrap-mask is caught in
// the root package.
// Mutants caught: none.
func TestServedByAtWrap(t *testing.T) {
	var w Word
	w.v.Store(SeqMask<<seqShift | rawUser) // a User word, no work, at the last sequence
	require.Equal(t, User, w.Snapshot().State(), "setup: a User word")
	require.Equal(t, SeqMask, w.Snapshot().Seq(), "setup: at the last sequence")
	at, ok := w.SetWorkIfUser(Of(3))
	require.True(t, ok, "a User word accepts work")
	require.Equal(t, Of(3), w.KernelEnter(), "the entry returns the work")
	entry := w.Snapshot().Seq()
	require.Zero(t, entry, "the entry wrapped the sequence to 0")
	require.Equal(t, entry, (at.Seq()+1)&SeqMask, "Seq()+1 names the entry that ran the work")
	require.True(t, SeqReached(entry, (at.Seq()+1)&SeqMask), "a waiter for Seq()+1 sees the entry reached")
}
