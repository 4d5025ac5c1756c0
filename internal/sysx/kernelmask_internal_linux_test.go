package sysx

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestKernelMaskLayout checks toKernelMask against the kernel's definition
// of a cpumask, computed independently: CPU n is bit n%BITS_PER_LONG of long
// n/BITS_PER_LONG, in native byte order.
func TestKernelMaskLayout(t *testing.T) {
	for _, cpus := range [][]int{nil, {0}, {31}, {32}, {63}, {64}, {0, 33, 95, 1023}, {4095}} {
		s := CPUSetOf(cpus...)
		var small [initialMaskLongs]uintptr
		mask := toKernelMask(s, small[:])
		require.GreaterOrEqual(t, len(mask), 1, "mask of %v has at least one long", cpus)
		require.Zero(t, (len(mask)*longSize)%int(unsafe.Sizeof(uintptr(0))), "byte length of %v is a multiple of sizeof(long)", cpus)
		for n := range len(mask) * longBits {
			want := s.Has(n)
			got := mask[n/longBits]&(1<<(uint(n)%longBits)) != 0
			require.Equal(t, want, got, "CPU %d of %v in the kernel mask", n, cpus)
		}
		require.Equal(t, s, fromKernelMask(mask), "fromKernelMask(toKernelMask(%v))", cpus)
	}
}

// TestKernelMaskBytesOnLittleEndian shows the comment in affinity_linux.go
// holds: on little-endian machines the kernel mask has the same bytes as
// CPUSet's words.
func TestKernelMaskBytesOnLittleEndian(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("big-endian")
	}
	s := CPUSetOf(0, 9, 33, 63, 64, 100, 4095)
	mask := toKernelMask(s, nil)
	kb := unsafe.Slice((*byte)(unsafe.Pointer(&mask[0])), len(mask)*longSize)
	wb := unsafe.Slice((*byte)(unsafe.Pointer(&s.words[0])), len(s.words)*8)
	require.Equal(t, wb, kb, "kernel mask bytes vs CPUSet word bytes")
}

func TestToKernelMaskUsesSmallBuffer(t *testing.T) {
	var small [initialMaskLongs]uintptr
	small[0] = ^uintptr(0) // stale content must be cleared
	mask := toKernelMask(CPUSetOf(1), small[:])
	require.Same(t, &small[0], &mask[0], "a small set must use the caller's buffer")
	require.Equal(t, uintptr(2), mask[0], "the buffer must be cleared first")
	require.Len(t, mask, wordBits/longBits, "only as many longs as one word of the set needs")
}
