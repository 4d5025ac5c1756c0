package ctdefer

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

// TestRingLayout checks that a ring is a whole number of cache lines, with
// the senders' line, the consumer's line and the hand-back record each on
// its own, its 64-bit atomics 8-byte aligned (GOARCH=386), and that two
// CPUs' cells are at least a line apart.
// Mutants caught: none.
func TestRingLayout(t *testing.T) {
	var r ring
	require.Zero(t, unsafe.Sizeof(r)%percpu.CacheLine, "ring size %d is not a multiple of the %d-byte line", unsafe.Sizeof(r), percpu.CacheLine)
	for _, off := range []uintptr{unsafe.Offsetof(r.ringTail), unsafe.Offsetof(r.ringHead), unsafe.Offsetof(r.ringBack)} {
		require.Zero(t, off%percpu.CacheLine, "group at offset %d does not start a line", off)
	}
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[ring]()), "64-bit atomics not 8-byte aligned")

	d, err := New(Options{CPUs: []int{0, 1}, Unpinned: true})
	require.NoError(t, err)
	for _, capacity := range []int{1, 3, 4, 100} {
		q, err := NewQueue(d, "q"+string(rune('a'+capacity%26))+string(rune('0'+capacity%10)), capacity, func(int, [3]byte) {})
		require.NoError(t, err)
		cells := uint64(q.mask + 1)
		require.GreaterOrEqual(t, cells, uint64(capacity), "at least capacity cells")
		gap := uintptr(q.stride-cells) * unsafe.Sizeof(q.cells[0])
		require.GreaterOrEqual(t, gap, percpu.CacheLine, "capacity %d: the padding between two CPUs' cells is %d bytes", capacity, gap)
	}
}
