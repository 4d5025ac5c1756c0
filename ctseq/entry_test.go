package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Enter from User is one transition to Kernel that claims the pending work;
// the matching Exit is one transition back to User.
// Mutants caught: none.
func TestEnterFromUser(t *testing.T) {
	var w ctseq.Word
	w.UserEnter()
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(4))), "User accepts work")
	before := w.Snapshot()
	e := w.Enter()
	require.True(t, e.Outer(), "Enter from User makes the transition")
	require.Equal(t, ctseq.Of(4), e.Work(), "the outer level claims the pending work")
	in := w.Snapshot()
	require.Equal(t, ctseq.Kernel, in.State(), "Enter from User moves to Kernel")
	require.Equal(t, next(before.Seq()), in.Seq(), "Enter from User is one transition")
	require.Zero(t, in.Work(), "claimed work is cleared from the word")
	w.Exit(e)
	out := w.Snapshot()
	require.Equal(t, ctseq.User, out.State(), "Exit restores User")
	require.Equal(t, next(in.Seq()), out.Seq(), "Exit to User is one transition")
}

// Mutant caught: enter-from-idle-exits-to-user.
func TestEnterFromIdle(t *testing.T) {
	var w ctseq.Word
	w.IdleEnter()
	before := w.Snapshot()
	e := w.Enter()
	require.True(t, e.Outer(), "Enter from Idle makes the transition")
	require.Zero(t, e.Work(), "Idle holds no work")
	in := w.Snapshot()
	require.Equal(t, ctseq.Kernel, in.State(), "Enter from Idle moves to Kernel")
	require.Equal(t, next(before.Seq()), in.Seq(), "Enter from Idle is one transition")
	w.Exit(e)
	out := w.Snapshot()
	require.Equal(t, ctseq.Idle, out.State(), "Exit restores Idle, not User")
	require.Equal(t, next(in.Seq()), out.Seq(), "Exit to Idle is one transition")
}

// Nested Enter and Exit levels make no transition and claim no work; only
// the outer level does.
// Mutants caught: none.
func TestEnterNested(t *testing.T) {
	var w ctseq.Word
	w.UserEnter()
	outer := w.Enter()
	require.True(t, outer.Outer(), "first level is outer")
	base := w.Snapshot()
	var levels []ctseq.Entry
	for depth := 1; depth <= 4; depth++ {
		e := w.Enter()
		require.False(t, e.Outer(), "level %d is nested", depth)
		require.Zero(t, e.Work(), "a nested level claims no work")
		require.Equal(t, base, w.Snapshot(), "nested Enter at depth %d makes no transition", depth)
		levels = append(levels, e)
	}
	for i := len(levels) - 1; i >= 0; i-- {
		w.Exit(levels[i])
		require.Equal(t, base, w.Snapshot(), "nested Exit at depth %d makes no transition", i+1)
	}
	w.Exit(outer)
	require.Equal(t, ctseq.User, w.Snapshot().State(), "the outer Exit restores User")
	require.Equal(t, next(base.Seq()), w.Snapshot().Seq(), "the outer Exit is one transition")

	var zero ctseq.Entry
	require.False(t, zero.Outer(), "the zero Entry is a nested level")
	require.Zero(t, zero.Work(), "the zero Entry has no work")
}
