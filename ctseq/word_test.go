package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The zero Word is in Kernel, at sequence 0, with no work: it reads as the
// zero Snapshot.
// Mutants caught: none.
func TestZeroWord(t *testing.T) {
	var w ctseq.Word
	s := w.Snapshot()
	require.Equal(t, ctseq.Kernel, s.State(), "the zero Word is in Kernel")
	require.Zero(t, s.Seq(), "the zero Word has sequence 0")
	require.Zero(t, s.Work(), "the zero Word has no work")
	require.Equal(t, ctseq.Snapshot{}, s, "the zero Word reads as the zero Snapshot")
}

// Mutant caught: transition-no-seq-bump.
func TestUserEnter(t *testing.T) {
	var w ctseq.Word
	before := w.Snapshot()
	w.UserEnter()
	after := w.Snapshot()
	require.Equal(t, ctseq.User, after.State(), "UserEnter moves Kernel to User")
	require.Equal(t, next(before.Seq()), after.Seq(), "UserEnter advances the sequence by one")
	require.Zero(t, after.Work(), "UserEnter sets no work")
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(0))), "a word in User accepts work")
}

// Mutants caught: exit-keeps-claimed-bits, work-reports-claimed-bits.
func TestKernelEnterReturnsPendingWork(t *testing.T) {
	w := inUser(t)
	want := ctseq.Of(0) | ctseq.Of(7) | ctseq.Of(ctseq.WorkBits-1)
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(0)|ctseq.Of(7))), "User accepts bits 0 and 7")
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(ctseq.WorkBits-1))), "User accepts the top bit")
	pending := w.Snapshot()
	require.Equal(t, want, pending.Work(), "the User word shows every accepted bit as pending")

	got := w.KernelEnter()
	require.Equal(t, want, got, "KernelEnter returns exactly the pending bits")
	after := w.Snapshot()
	require.Equal(t, ctseq.Kernel, after.State(), "KernelEnter moves User to Kernel")
	require.Equal(t, next(pending.Seq()), after.Seq(), "KernelEnter advances the sequence by one")
	require.Zero(t, after.Work(), "the bits KernelEnter returned are no longer pending")

	w.UserEnter()
	require.Zero(t, w.KernelEnter(), "claimed work is returned once, not again at the next entry")
}

// KernelEnter without pending work returns none and advances the sequence by
// one.
// Mutants caught: none.
func TestKernelEnterNoWork(t *testing.T) {
	w := inUser(t)
	before := w.Snapshot()
	require.Zero(t, w.KernelEnter(), "KernelEnter without pending work returns none")
	after := w.Snapshot()
	require.Equal(t, ctseq.Kernel, after.State(), "KernelEnter moves User to Kernel")
	require.Equal(t, next(before.Seq()), after.Seq(), "KernelEnter advances the sequence by one")
	require.Zero(t, after.Work(), "no work appears from nowhere")
}

// IdleEnter and IdleExit each advance the sequence by one; IdleExit returns
// no work, since Idle refuses it.
// Mutants caught: none.
func TestIdleEnterExit(t *testing.T) {
	var w ctseq.Word
	s0 := w.Snapshot()
	w.IdleEnter()
	s1 := w.Snapshot()
	require.Equal(t, ctseq.Idle, s1.State(), "IdleEnter moves Kernel to Idle")
	require.Equal(t, next(s0.Seq()), s1.Seq(), "IdleEnter advances the sequence by one")
	require.Zero(t, w.IdleExit(), "IdleExit returns no work: Idle refuses it")
	s2 := w.Snapshot()
	require.Equal(t, ctseq.Kernel, s2.State(), "IdleExit moves Idle to Kernel")
	require.Equal(t, next(s1.Seq()), s2.Seq(), "IdleExit advances the sequence by one")
	w.UserEnter()
	require.Equal(t, ctseq.User, w.Snapshot().State(), "after Idle the owner may return to User")
}

// SetWorkIfUser is refused in Kernel, and the refused work never runs at a
// later entry.
// Mutants caught: none.
func TestSetWorkIfUserRefusedInKernel(t *testing.T) {
	var w ctseq.Word
	refusal(t, &w, ctseq.Kernel)
	w.UserEnter()
	require.Zero(t, w.KernelEnter(), "refused work must not be run at a later entry")
	refusal(t, &w, ctseq.Kernel)
}

// Mutant caught: idle-accepts-work.
func TestSetWorkIfUserRefusedInIdle(t *testing.T) {
	var w ctseq.Word
	w.IdleEnter()
	refusal(t, &w, ctseq.Idle)
	require.Zero(t, w.IdleExit(), "refused work must not be returned by IdleExit")
	w.UserEnter()
	require.Zero(t, w.KernelEnter(), "refused work must not be run at a later entry")
}

// A request for a pending bit is accepted without a write, and one
// KernelEnter serves every coalesced request.
// Mutants caught: none.
func TestSetWorkIfUserCoalesces(t *testing.T) {
	w := inUser(t)
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(3))), "first request for bit 3 accepted")
	before := w.Snapshot()
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(3))), "a second request for a pending bit is accepted")
	require.Equal(t, before, w.Snapshot(), "coalescing a pending bit changes nothing in the word")
	require.True(t, accepted(w.SetWorkIfUser(ctseq.Of(3)|ctseq.Of(4))), "a request overlapping pending bits is accepted")
	require.Equal(t, ctseq.Of(3)|ctseq.Of(4), w.KernelEnter(), "one execution serves every coalesced request")
}

// SetWorkIfUser(0) reports the owner's state and writes nothing.
// Mutants caught: none.
func TestSetWorkIfUserZero(t *testing.T) {
	w := inUser(t)
	before := w.Snapshot()
	require.True(t, accepted(w.SetWorkIfUser(0)), "SetWorkIfUser(0) reports that the owner is in User")
	require.Equal(t, before, w.Snapshot(), "SetWorkIfUser(0) writes nothing")
	require.Zero(t, w.KernelEnter(), "SetWorkIfUser(0) leaves no work")
	require.False(t, accepted(w.SetWorkIfUser(0)), "SetWorkIfUser(0) reports that the owner is in Kernel")
}

// Each transition from a state it does not apply to panics with a message
// naming the method.
// Mutants caught: none.
func TestMisusePanics(t *testing.T) {
	toIdle := func(w *ctseq.Word) { w.IdleEnter() }
	toUser := func(w *ctseq.Word) { w.UserEnter() }
	stay := func(*ctseq.Word) {}
	cases := []struct {
		name   string
		setup  func(*ctseq.Word)
		method string
		call   func(*ctseq.Word)
	}{
		{"UserEnter twice", toUser, "UserEnter", func(w *ctseq.Word) { w.UserEnter() }},
		{"UserEnter from Idle", toIdle, "UserEnter", func(w *ctseq.Word) { w.UserEnter() }},
		{"KernelEnter from Kernel", stay, "KernelEnter", func(w *ctseq.Word) { w.KernelEnter() }},
		{"KernelEnter from Idle", toIdle, "KernelEnter", func(w *ctseq.Word) { w.KernelEnter() }},
		{"IdleEnter from User", toUser, "IdleEnter", func(w *ctseq.Word) { w.IdleEnter() }},
		{"IdleEnter twice", toIdle, "IdleEnter", func(w *ctseq.Word) { w.IdleEnter() }},
		{"IdleExit from Kernel", stay, "IdleExit", func(w *ctseq.Word) { w.IdleExit() }},
		{"IdleExit from User", toUser, "IdleExit", func(w *ctseq.Word) { w.IdleExit() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w ctseq.Word
			c.setup(&w)
			requirePanicPrefix(t, "ctseq: Word."+c.method, func() { c.call(&w) })
		})
	}
}

// Table.Set panics on a bit beyond WorkBits or a nil handler, and Of on a
// bit beyond WorkBits.
// Mutants caught: none.
func TestTableSetMisusePanics(t *testing.T) {
	var tab ctseq.Table
	requirePanicPrefix(t, "ctseq: Table.Set", func() { tab.Set(ctseq.WorkBits, func() {}) })
	requirePanicPrefix(t, "ctseq: Table.Set", func() { tab.Set(0, nil) })
	require.Zero(t, tab.Registered(), "a refused Set registers nothing")
	requirePanicPrefix(t, "ctseq: Of", func() { ctseq.Of(ctseq.WorkBits) })
}

// Mutant caught: kernel-counts-as-quiescent.
func TestQuiesce(t *testing.T) {
	var w ctseq.Word
	snap := w.Snapshot()
	require.False(t, w.QuiescentSince(snap), "a Kernel snapshot is not quiescent by itself")
	w.Quiesce()
	require.True(t, w.QuiescentSince(snap), "Quiesce ends the grace period of a Kernel snapshot")
	after := w.Snapshot()
	require.Equal(t, ctseq.Kernel, after.State(), "Quiesce does not leave the kernel")
	require.Equal(t, (snap.Seq()+1)&ctseq.SeqMask, after.Seq(), "Quiesce advances the sequence by one")
	require.False(t, accepted(w.SetWorkIfUser(ctseq.Of(0))), "still refusing work in the kernel")
	w.UserEnter()
	require.PanicsWithError(t, "ctseq: Word.Quiesce outside kernel; transitions are owner-only and must alternate",
		func() { w.Quiesce() }, "Quiesce in user mode is misuse")
	require.Equal(t, ctseq.User, w.Snapshot().State(), "the faulty add was undone")
}
