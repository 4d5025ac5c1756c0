package ctdefer

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// TestSlotLayout checks that a slot is a whole number of cache lines (so
// adjacent slots never share one) and that each line group starts on its
// own line.
// Mutants caught: none.
func TestSlotLayout(t *testing.T) {
	var s slot
	require.Zero(t, unsafe.Sizeof(s)%percpu.CacheLine, "slot size %d is not a multiple of the %d-byte line", unsafe.Sizeof(s), percpu.CacheLine)
	for _, off := range []uintptr{
		unsafe.Offsetof(s.wordLine), unsafe.Offsetof(s.mboxLine), unsafe.Offsetof(s.reschedLine), unsafe.Offsetof(s.parkLine),
		unsafe.Offsetof(s.progressLine), unsafe.Offsetof(s.ostats), unsafe.Offsetof(s.sstats),
		unsafe.Offsetof(s.owork), unsafe.Offsetof(s.swork), unsafe.Offsetof(s.coldLine),
	} {
		require.Zero(t, off%percpu.CacheLine, "group at offset %d does not start a line", off)
	}
	// Distinct groups: the word and the mailbox must be on different lines.
	require.GreaterOrEqual(t, unsafe.Offsetof(s.mboxLine)-unsafe.Offsetof(s.wordLine), percpu.CacheLine)
}

// TestSlot64BitAlignment checks that every 64-bit atomic of a slot and of
// a Domain sits at an offset that is a multiple of 8, which 32-bit
// platforms need (atomicx, like go.uber.org/atomic, does not align them).
// GOARCH=386 go test runs it where it matters.
// Mutants caught: none.
func TestSlot64BitAlignment(t *testing.T) {
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[slot]()), "64-bit atomics not 8-byte aligned")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[Domain]()), "64-bit atomics not 8-byte aligned")
}

// doneNone never answers a ticket, wherever the sequence is.
// Mutant caught: done-none-compared.
func TestDoneNoneReachesNoTicket(t *testing.T) {
	for _, ticket := range []uint64{0, 1, 2, ctseq.SeqMask / 2, ctseq.SeqMask/2 + 1, ctseq.SeqMask/2 + 2, ctseq.SeqMask} {
		require.False(t, doneReached(doneNone, ticket), "doneNone against ticket %#x", ticket)
		require.True(t, doneReached(ticket, ticket), "a completion of the ticket's own entry, %#x", ticket)
	}
}
