package ctseq

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Every field packs and unpacks unchanged, at the edges of each field, and
// no two fields overlap.
// Mutants caught: none.
func TestLayoutRoundTrip(t *testing.T) {
	cases := []struct {
		seq   uint64
		work  Work
		state State
	}{
		{0, 0, Kernel},
		{0, 0, Idle},
		{0, 0, User},
		{1, 1, User},
		{seqMax, 0, Kernel},
		{seqMax, 0xffff, User},
		{seqMax, 0x8001, Idle},
		{seqMax >> 1, 0x5555, User},
		{1, 0xaaaa, Kernel},
	}
	for _, c := range cases {
		v := pack(c.seq, c.work, c.state)
		require.Equal(t, c.seq, seqOf(actual(v)), "seqOf(actual(%#x))", v)
		require.Equal(t, c.work, workOf(actual(v)), "workOf(actual(%#x))", v)
		require.Equal(t, c.state, stateOf(v), "stateOf(%#x)", v)
		s := Snapshot{v}
		require.Equal(t, c.seq, s.Seq(), "Snapshot.Seq of %#x", v)
		pending := c.work
		if c.state != User {
			pending = 0 // only a User word has pending bits
		}
		require.Equal(t, pending, s.Work(), "Snapshot.Work of %#x", v)
		require.Equal(t, c.state, s.State(), "Snapshot.State of %#x", v)
		require.Equal(t, c.state != Kernel, s.Quiescent(), "Snapshot.Quiescent of %#x", v)
	}
	require.Equal(t, uint64(0), pack(0, 0, Kernel), "the zero word is Kernel, sequence 0, no work")
	require.Equal(t, uint64(0), workMask&stateMask, "work and state fields overlap")
	require.Equal(t, uint64(0), workMask&(seqMax<<seqShift), "work and sequence fields overlap")
	require.Equal(t, uint64(1)<<WorkBits-1, workMask>>workShift, "work field is %d bits wide", WorkBits)
}

// A Word is exactly one 64-bit word, with its atomic at offset 0.
// Mutants caught: none.
func TestWordSize(t *testing.T) {
	require.Equal(t, uintptr(8), unsafe.Sizeof(Word{}), "Word must be exactly one 64-bit word: noCopy adds nothing")
	require.Equal(t, uintptr(0), unsafe.Offsetof(Word{}.v), "the atomic must be at offset 0 for 32-bit alignment")
}

// Every transition advances the sequence by exactly one, across the wrap,
// and changes only the sequence and the state.
// Mutants caught: none.
func TestSequenceAdvancesAndWraps(t *testing.T) {
	// Start four transitions before the top of the sequence so that both
	// builds (seqBits 45 and 2) cross the wrap within a few steps.
	var w Word
	start := (seqMax - 3) & seqMax
	w.v.Store(pack(start, 0, Kernel))
	want := start
	wrapped := false
	for i := 0; i < 3*len(transitions); i++ {
		tr := transitions[i%len(transitions)]
		before := w.v.Load()
		tr.do(&w)
		after := w.v.Load()
		want = (want + 1) & seqMax
		if want == 0 {
			wrapped = true
		}
		require.Equal(t, want, seqOf(actual(after)), "%s #%d: the sequence advances by exactly one modulo 2^%d", tr.name, i, seqBits)
		require.Equal(t, tr.to, stateOf(after), "%s #%d: state", tr.name, i)
		require.Equal(t, Work(0), workOf(actual(after)), "%s #%d: no work appears", tr.name, i)
		require.Equal(t, actual(before)&^(seqMax<<seqShift)&^stateMask, actual(after)&^(seqMax<<seqShift)&^stateMask,
			"%s #%d: a transition changes only the sequence and state (carry must not escape the fields)", tr.name, i)
	}
	require.True(t, wrapped, "the test must cross the sequence wrap")
}

// KernelEnter on a User word at the top sequence wraps to 0 and returns
// every pending bit; the next exit clears them.
// Mutants caught: none.
func TestKernelEnterClaimAtWrap(t *testing.T) {
	// Pending work in a User word whose sequence is at its maximum: the
	// entry's add wraps the sequence to 0 and keeps the bits, claimed; the
	// exit clears them and leaves exactly the next sequence and User.
	var w Word
	w.v.Store(pack(seqMax, 0xffff, User))
	require.Equal(t, Work(0xffff), w.KernelEnter(), "every pending bit is returned at the wrap")
	require.Equal(t, pack(0, 0xffff, Kernel), w.v.Load(), "after the wrap the word is sequence 0, Kernel, the claimed bits")
	require.Zero(t, w.Snapshot().Work(), "claimed bits are not pending")
	w.UserEnter()
	require.Equal(t, pack(1, 0, User), w.v.Load(), "the exit clears the claimed bits in its add")
}

// Mutants caught: exit-keeps-claimed-bits, work-reports-claimed-bits.
func TestClaimedBitsClearedByTheExit(t *testing.T) {
	// KernelEnter leaves the bits it returns in the Kernel word; a snapshot
	// there shows them claimed, not pending, and only the owner's next
	// transition out of Kernel clears them, in its own add: a grace period
	// sees no extra transition, and whichever exit follows (User or Idle)
	// leaves no bit behind.
	for _, exit := range []struct {
		name  string
		call  func(*Word)
		state State
	}{
		{"UserEnter", (*Word).UserEnter, User},
		{"IdleEnter", (*Word).IdleEnter, Idle},
	} {
		t.Run(exit.name, func(t *testing.T) {
			var w Word
			w.v.Store(pack(5, Of(1)|Of(2), User))
			require.Equal(t, Of(1)|Of(2), w.KernelEnter(), "the entry returns the pending bits")
			s := w.Snapshot()
			require.Equal(t, pack(6, Of(1)|Of(2), Kernel), s.v, "the Kernel word keeps the claimed bits")
			require.Zero(t, s.Work(), "claimed bits are not pending")
			require.False(t, w.QuiescentSince(s), "no transition yet")
			w.Quiesce()
			require.Equal(t, pack(7, Of(1)|Of(2), Kernel), w.v.Load(), "Quiesce keeps the claimed bits")
			exit.call(&w)
			require.Equal(t, pack(8, 0, exit.state), w.v.Load(), "%s clears the claimed bits in its one add", exit.name)
			require.True(t, w.QuiescentSince(s))
			if exit.state == Idle {
				require.Zero(t, w.IdleExit(), "an Idle word has no work")
				require.Equal(t, pack(9, 0, Kernel), w.v.Load())
			}
		})
	}
}
