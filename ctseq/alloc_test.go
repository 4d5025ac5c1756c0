package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The Word's transitions, SetWorkIfUser, Snapshot, QuiescentSince and
// Table.Drain allocate nothing.
// Mutants caught: none.
func TestZeroAllocs(t *testing.T) {
	var w ctseq.Word
	var tab ctseq.Table
	n := 0
	for b := 0; b < ctseq.WorkBits; b++ {
		tab.Set(b, func() { n++ })
	}
	snap := w.Snapshot()
	var sink bool
	cases := []struct {
		name string
		f    func()
	}{
		{"SetWorkIfUser", func() {
			w.UserEnter()
			_, sink = w.SetWorkIfUser(ctseq.Of(1))
			w.KernelEnter()
		}},
		{"UserEnter+KernelEnter no work", func() {
			w.UserEnter()
			w.KernelEnter()
		}},
		{"KernelEnter with work", func() {
			w.UserEnter()
			w.SetWorkIfUser(ctseq.Of(2))
			tab.Drain(w.KernelEnter())
		}},
		{"Enter/Exit", func() {
			w.UserEnter()
			e := w.Enter()
			inner := w.Enter()
			w.Exit(inner)
			w.Exit(e)
			w.KernelEnter()
		}},
		{"IdleEnter/IdleExit", func() {
			w.IdleEnter()
			w.IdleExit()
		}},
		{"QuiescentSince", func() { sink = w.QuiescentSince(snap) }},
		{"Snapshot", func() { snap = w.Snapshot() }},
		{"Table.Drain", func() { tab.Drain(0xffff) }},
	}
	for _, c := range cases {
		require.Zero(t, testing.AllocsPerRun(100, c.f), "%s must not allocate", c.name)
	}
	require.Greater(t, n, 0, "the handlers ran")
	_ = sink
}
