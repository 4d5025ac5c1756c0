//lint:file-ignore U1000 the types here exist for their layout: their fields are reached by unsafe.Offsetof and reflection only

package percpu_test

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

func TestCacheLine(t *testing.T) {
	require.GreaterOrEqual(t, percpu.CacheLine, uintptr(64), "at least 64 bytes, even where x/sys/cpu has no pad (wasm)")
	require.Zero(t, percpu.CacheLine&(percpu.CacheLine-1), "a power of two: %d", percpu.CacheLine)
}

// The padding pattern of CacheLine's documentation makes whole lines for
// every group size, including an exact multiple (no extra line).
func TestPaddingPattern(t *testing.T) {
	type small struct{ a, b uint64 }
	type exact struct{ a [percpu.CacheLine]byte }
	type over struct{ a [percpu.CacheLine + 8]byte }
	type layout struct {
		small
		_ [(percpu.CacheLine - unsafe.Sizeof(small{})%percpu.CacheLine) % percpu.CacheLine]byte
		exact
		_ [(percpu.CacheLine - unsafe.Sizeof(exact{})%percpu.CacheLine) % percpu.CacheLine]byte
		over
		_ [(percpu.CacheLine - unsafe.Sizeof(over{})%percpu.CacheLine) % percpu.CacheLine]byte
	}
	var l layout
	require.Equal(t, percpu.CacheLine, unsafe.Offsetof(l.exact))
	require.Equal(t, 2*percpu.CacheLine, unsafe.Offsetof(l.over))
	require.Equal(t, 4*percpu.CacheLine, unsafe.Sizeof(l))
}

// NoCopy adds no bytes when it comes first.
func TestNoCopyIsFree(t *testing.T) {
	type s struct {
		_ percpu.NoCopy
		v uint64
	}
	require.Zero(t, unsafe.Sizeof(percpu.NoCopy{}))
	require.Equal(t, unsafe.Sizeof(uint64(0)), unsafe.Sizeof(s{}))
}

func TestMisaligned64(t *testing.T) {
	type good struct {
		a atomicx.Uint64
		b [2]atomicx.Int64
		c struct {
			x uint32
			_ uint32
			y atomicx.Uint64
		}
	}
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[good]()))
	type bad struct {
		x uint32
		y atomicx.Uint64 // at 4 on 386, 8 elsewhere
	}
	if unsafe.Offsetof(bad{}.y) == 4 {
		require.Equal(t, []string{"bad.y"}, percpu.Misaligned64(reflect.TypeFor[bad]()))
	}
	type nested struct {
		x uint32
		b [3]struct {
			_ uint32
			v atomicx.Int64
		}
	}
	if unsafe.Offsetof(nested{}.b) == 4 { // 386: elements of 12 bytes; v at 8, 20, 32
		require.Equal(t, []string{"nested.b[1].v"}, percpu.Misaligned64(reflect.TypeFor[nested]()))
	} else {
		require.Empty(t, percpu.Misaligned64(reflect.TypeFor[nested]()))
	}
}
