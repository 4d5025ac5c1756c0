//go:build ctdefer_narrowseq

package ctdefer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// A DeferWait's ticket for work accepted at the last sequence is the entry
// that wraps the sequence to 0: servedBy masks Seq()+1, and the owner's
// entry reaches it. Built with the 2-bit sequence (ctdefer_narrowseq), where
// a real word reaches the last sequence in three transitions.
// Mutant caught: servedby-no-wrap-mask.
func TestServedByAtWrap(t *testing.T) {
	var w ctseq.Word // Kernel, sequence 0
	for w.Snapshot().State() != ctseq.User || w.Snapshot().Seq() != ctseq.SeqMask {
		if w.Snapshot().State() == ctseq.User {
			w.KernelEnter()
		} else {
			w.UserEnter()
		}
	}
	at, ok := w.SetWorkIfUser(1)
	require.True(t, ok, "a User word accepts work")
	ticket := servedBy(at)
	require.Equal(t, ctseq.Work(1), w.KernelEnter(), "the entry returns the work")
	entry := w.Snapshot().Seq()
	require.Zero(t, entry, "the entry wrapped the sequence to 0")
	require.Equal(t, entry, ticket, "the ticket names the entry that ran the work")
	require.True(t, ctseq.SeqReached(entry, ticket), "a waiter for the ticket sees it reached")
}
