package lazytlb

import (
	"context"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// Per-CPU slots fill whole cache lines, so no two CPUs' state words share
// a line, and every 64-bit atomic is the first field of its struct (8-byte
// aligned on 32-bit platforms).
// Mutants caught: none.
func TestSlotLayout(t *testing.T) {
	require.Zero(t, unsafe.Sizeof(slot{})%percpu.CacheLine, "slot size %d is a multiple of the %d-byte line", unsafe.Sizeof(slot{}), percpu.CacheLine)
	require.Zero(t, unsafe.Sizeof(flushedGen{})%percpu.CacheLine, "flushedGen size %d is a multiple of the line", unsafe.Sizeof(flushedGen{}))
	require.Zero(t, unsafe.Offsetof(slot{}.state), "the state word is first in its slot")
	require.Equal(t, uintptr(8), unsafe.Offsetof(slot{}.inflight), "inflight is second, 8-aligned")
	require.Equal(t, uintptr(16), unsafe.Offsetof(slot{}.ostats), "the owner's 64-bit counters follow, 8-aligned")
	require.Equal(t, percpu.CacheLine, unsafe.Offsetof(MM{}.gen), "a line of padding before gen")
	require.Equal(t, 2*percpu.CacheLine, unsafe.Offsetof(MM{}.cpus), "and the rest of its line after it")
	require.Zero(t, unsafe.Offsetof(flushedGen{}.gen), "flushed gen first")

	tlb, err := NewWithSender([]int{0, 1, 2}, func(context.Context, int, bool) (ctdefer.Delivery, error) { return ctdefer.IPI, nil },
		Options{Flush: func(int, *MM, uint64) {}})
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	for i := range tlb.slots {
		require.Zero(t, uintptr(unsafe.Pointer(&tlb.slots[i].state))%8, "slot %d's state word is 8-byte aligned", i)
		require.Zero(t, uintptr(unsafe.Pointer(&tlb.slots[i].inflight))%8, "slot %d's inflight is 8-byte aligned", i)
		require.Zero(t, uintptr(unsafe.Pointer(&mm.flushed[i].gen))%8, "flushed[%d] is 8-byte aligned", i)
	}
	require.Zero(t, uintptr(unsafe.Pointer(&mm.gen))%8, "gen is 8-byte aligned")
	require.Zero(t, uintptr(unsafe.Pointer(&mm.cpus[0]))%8, "the set is 8-byte aligned")
}
