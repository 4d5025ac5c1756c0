package ctseq

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMisuseWindowRefusesSenders (issue 9, item 5) stops an owner's misused
// transition between its add and its undo, the instant the bug lived in, and
// checks that a sender is refused there (so the undo cannot wipe an accepted
// bit), that the undo restores the word exactly, and that the method itself
// panics and leaves the word as it found it. Every transition is tried from
// every wrong state, and from User with bits pending.
//
// The one window that a sender may use is Quiesce from User: its delta is
// seqInc alone, so the word stays User; the undo subtracts seqInc alone, so a
// bit accepted there stays pending and the next entry returns it.
// Mutants caught: none.
func TestMisuseWindowRefusesSenders(t *testing.T) {
	setups := []struct {
		name  string
		state State
		work  Work
		do    func(*Word)
	}{
		{"Kernel", Kernel, 0, func(*Word) {}},
		{"Idle", Idle, 0, func(w *Word) { w.IdleEnter() }},
		{"User", User, 0, func(w *Word) { w.UserEnter() }},
		{"User with work", User, Of(3) | Of(WorkBits-1), func(w *Word) {
			w.UserEnter()
			w.SetWorkIfUser(Of(3) | Of(WorkBits-1))
		}},
	}
	const sent = 0 // the bit the sender tries in the window
	for _, op := range ownerOps {
		for _, su := range setups {
			if su.state == op.from {
				continue
			}
			t.Run(op.name+" from "+su.name, func(t *testing.T) {
				var w Word
				// Start a few transitions before the sequence wraps, so
				// the narrow build crosses it in the window too.
				for range 3 {
					w.Quiesce()
				}
				su.do(&w)
				before := w.Snapshot()
				require.Equal(t, su.state, before.State(), "setup")
				require.Equal(t, su.work, before.Work(), "setup")

				// The faulty add, exactly as the method makes it.
				d := delta(enc(op.from), enc(op.to))
				w.v.Add(d)
				require.NotEqual(t, op.to, w.Snapshot().State(), "the method's check must see the misuse")
				_, ok := w.SetWorkIfUser(Of(sent))
				stays := op.name == "Quiesce" && su.state == User
				if stays {
					require.True(t, ok, "Quiesce's window leaves a User word User: senders are accepted")
				} else {
					require.False(t, ok, "in the window of %s from %s the word is %v: a sender was accepted, and the undo will wipe its bit",
						op.name, su.name, w.Snapshot().State())
				}
				// The undo, exactly as the method makes it.
				w.v.Sub(d)
				after := w.Snapshot()
				want := before.Work()
				if ok {
					want |= Of(sent)
				}
				require.Equal(t, before.State(), after.State(), "the undo restores the state")
				require.Equal(t, before.Seq(), after.Seq(), "the undo restores the sequence")
				require.Equal(t, want, after.Work(), "the undo keeps every pending bit, and an accepted one")

				// The method itself: it panics with its misuse value and
				// leaves the word as it found it.
				require.PanicsWithError(t, misuse[opIndex(op.name)].Error(), func() { op.call(&w) })
				require.Equal(t, after, w.Snapshot(), "%s from %s must leave the word as it found it", op.name, su.name)

				// Every accepted bit is returned by the next entry.
				var got Work
				switch su.state {
				case User:
					got = w.KernelEnter()
				case Idle:
					got = w.IdleExit()
				}
				require.Equal(t, want, got, "the next entry returns exactly the accepted bits")
				require.Equal(t, Kernel, w.Snapshot().State(), "back in Kernel")
				require.Zero(t, w.Snapshot().Work(), "no bit left behind")
			})
		}
	}
}

// TestEncodingMisuseNeverAccepted checks the state encoding (misuse loses no
// delivery, word.md) exhaustively, with the real constants: for every owner transition a->b
// and every state c != a, the faulty add (delta(a, b) applied to a word in
// c)
//   - keeps the state field in range: c+b-a in [0, 2^stateBits), so nothing
//     carries or borrows into the work, reserved or sequence bits;
//   - never produces User's encoding, nor b's (the owner's check must see the
//     misuse), nor any other state's: the word reads as Transient;
//
// and the same holds on whole words, raw as stored, for sequences around the
// wrap and work fields empty, full and mixed: SetWorkIfUser's test
// (raw&stateMask == rawUser) refuses the faulty word, its work and sequence
// decode as the original's (sequence +1), and the undo restores it.
//
// Quiesce (delta seqInc, Kernel to Kernel) leaves every state as it is; from
// User the word stays User, which is harmless (misuse loses no delivery, docs/design/word.md).
// Mutants caught: none.
func TestEncodingMisuseNeverAccepted(t *testing.T) {
	states := []State{Kernel, Idle, User}
	encs := map[uint64]State{}
	for _, s := range states {
		e := enc(s)
		require.Less(t, e, uint64(1)<<stateBits, "enc(%v) fits in the state field", s)
		require.NotContains(t, encs, e, "enc(%v) is unique", s)
		encs[e] = s
		require.Equal(t, s, stateOf(e-bias), "a raw word with state field enc(%v)-bias reads as %v", s, s)
	}
	require.Equal(t, Kernel, stateOf(0), "the zero word is Kernel")
	require.Equal(t, rawUser, (enc(User)-bias)&stateMask, "rawUser is User's raw field")
	require.Equal(t, rawKernel, (enc(Kernel)-bias)&stateMask, "rawKernel is Kernel's raw field")
	require.Equal(t, rawIdle, (enc(Idle)-bias)&stateMask, "rawIdle is Idle's raw field")

	// The deltas below are the methods' own: each legal call adds exactly
	// delta(enc(from), enc(to)) to the stored word.
	for _, op := range ownerOps {
		var w Word
		w.v.Store(pack(seqMax, 0, op.from))
		before := w.v.Load()
		op.call(&w)
		require.Equal(t, delta(enc(op.from), enc(op.to)), w.v.Load()-before, "%s adds delta(enc(%v), enc(%v))", op.name, op.from, op.to)
	}

	seqs := []uint64{0, 1, seqMax >> 1, seqMax - 1, seqMax}
	works := []Work{0, 1, 0x8000, 0x5a5a, 0xffff}
	for _, op := range ownerOps {
		d := delta(enc(op.from), enc(op.to))
		for _, c := range states {
			if c == op.from {
				continue
			}
			// The state field alone.
			f := int(enc(c)) + int(enc(op.to)) - int(enc(op.from))
			require.True(t, f >= 0 && f < 1<<stateBits,
				"%s from %v: field %d+%d-%d = %d leaves the state field: it carries or borrows into the work bits",
				op.name, c, enc(c), enc(op.to), enc(op.from), f)
			if op.from == op.to { // Quiesce: the state is unchanged
				require.Equal(t, int(enc(c)), f, "%s from %v", op.name, c)
			} else {
				require.NotEqual(t, int(enc(User)), f, "%s from %v: the faulty word reads as User, senders accept it", op.name, c)
				require.NotContains(t, encs, uint64(f), "%s from %v: the faulty word reads as a state (%d)", op.name, c, f)
			}

			// Whole words, as stored.
			for _, seq := range seqs {
				for _, work := range works {
					raw := pack(seq, work, c)
					dd := d // the delta the method adds
					if op.from == Kernel && op.to != Kernel {
						// UserEnter and IdleEnter subtract the work
						// field they load (the claimed bits of a
						// Kernel word) in the same add.
						dd -= raw & workMask
					}
					n := raw + dd
					s := Snapshot{n}
					what := fmt.Sprintf("%s from %v (seq %#x, work %v)", op.name, c, seq, work)
					if op.from == op.to {
						require.Equal(t, c, s.State(), "%s: Quiesce keeps the state", what)
					} else {
						require.NotEqual(t, rawUser, n&stateMask, "%s: SetWorkIfUser would accept the faulty word", what)
						require.NotEqual(t, rawKernel, n&stateMask, "%s: the faulty word reads as Kernel", what)
						require.NotEqual(t, rawIdle, n&stateMask, "%s: the faulty word reads as Idle", what)
						require.Equal(t, transient, s.State(), "%s: Snapshot.State", what)
						require.False(t, s.Quiescent(), "%s: a Transient word is not quiescent", what)
					}
					require.Equal(t, (raw+d)&stateMask, n&stateMask, "%s: the subtraction of the loaded work field leaves the state field alone", what)
					if dd == d {
						require.Equal(t, work, workOf(actual(n)), "%s: the work bits are untouched", what)
						require.Equal(t, (seq+1)&seqMax, s.Seq(), "%s: the sequence advances by one, no more", what)
						require.Equal(t, actual(raw)&^stateMask+seqInc, actual(n)&^stateMask,
							"%s: only the state field and the sequence change (no carry or borrow)", what)
					}
					require.Equal(t, raw, n-dd, "%s: the undo restores the word", what)
				}
			}
		}
	}
}
