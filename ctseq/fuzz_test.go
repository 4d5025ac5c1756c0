package ctseq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// FuzzWordOps decodes its input as a sequence of operations on one Word,
// applied single-threaded, and checks every invariant against the model after
// each one. Opcode byte c, kind c%5:
//
//	0: owner transition valid for the current state (Exit if inside Enter)
//	1: SetWorkIfUser with the next two bytes as work bits
//	2: Snapshot (kept, up to 8)
//	3: Enter
//	4: Exit the innermost Enter, if any
func FuzzWordOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0x01, 0x00, 0})                         // user, set bit 0, kernel
	f.Add([]byte{2, 0, 2, 1, 0xff, 0xff, 1, 0x01, 0, 0, 2, 0}) // coalescing, snapshots
	f.Add([]byte{8, 1, 1, 0, 2, 0, 1, 3, 0, 0, 0, 0, 0, 0})    // idle, refusal in idle and kernel
	f.Add([]byte{0, 1, 4, 0, 2, 3, 3, 1, 1, 0, 4, 2, 4, 4, 2}) // nested Enter/Exit from User
	f.Add([]byte{8, 3, 2, 3, 1, 7, 0, 4, 4, 2, 0, 0, 0, 0, 0}) // Enter/Exit from Idle
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 8, 0}) // many transitions: wrap in the narrow build
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w ctseq.Word
		var m model
		var entries []entry
		var snaps []modelSnap
		for i := 0; i < len(ops); i++ {
			c := ops[i]
			before := w.Snapshot()
			switch c % 5 {
			case 0:
				if len(entries) > 0 {
					exit(t, &w, &m, &entries)
					break
				}
				switch m.state {
				case ctseq.Kernel:
					if c&8 != 0 {
						w.IdleEnter()
						m.transition(ctseq.Idle)
					} else {
						w.UserEnter()
						m.transition(ctseq.User)
					}
				case ctseq.User:
					got := w.KernelEnter()
					require.Equal(t, m.pending, got, "op %d: KernelEnter returns exactly the pending set", i)
					m.pending = 0
					m.transition(ctseq.Kernel)
				case ctseq.Idle:
					require.Zero(t, w.IdleExit(), "op %d: IdleExit returns no work", i)
					m.transition(ctseq.Kernel)
				}
				require.Equal(t, (before.Seq()+1)%(1<<ctseq.SeqBits), w.Snapshot().Seq(), "op %d: a transition advances the sequence by one", i)
			case 1:
				var work ctseq.Work
				if i+2 < len(ops) {
					work = ctseq.Work(ops[i+1]) | ctseq.Work(ops[i+2])<<8
					i += 2
				}
				_, ok := w.SetWorkIfUser(work)
				require.Equal(t, m.state == ctseq.User, ok, "op %d: SetWorkIfUser(%v) accepts iff the state is User (state %v)", i, work, m.state)
				if ok {
					m.pending |= work
				} else {
					require.Equal(t, before, w.Snapshot(), "op %d: a refusal leaves the word unchanged", i)
				}
			case 2:
				if len(snaps) < 8 {
					snaps = append(snaps, modelSnap{w.Snapshot(), m.seq, m.state})
				}
			case 3:
				e := w.Enter()
				entries = append(entries, entry{e, m.state})
				switch m.state {
				case ctseq.User:
					require.True(t, e.Outer(), "op %d: Enter from User is outer", i)
					require.Equal(t, m.pending, e.Work(), "op %d: Enter from User claims the pending set", i)
					m.pending = 0
					m.transition(ctseq.Kernel)
				case ctseq.Idle:
					require.True(t, e.Outer(), "op %d: Enter from Idle is outer", i)
					require.Zero(t, e.Work(), "op %d: Enter from Idle claims nothing", i)
					m.transition(ctseq.Kernel)
				default:
					require.False(t, e.Outer(), "op %d: Enter from Kernel is nested", i)
					require.Zero(t, e.Work(), "op %d: a nested Enter claims nothing", i)
					require.Equal(t, before, w.Snapshot(), "op %d: a nested Enter makes no transition", i)
				}
			case 4:
				if len(entries) > 0 {
					exit(t, &w, &m, &entries)
				}
			}
			check(t, i, &w, &m, snaps)
		}
	})
}
