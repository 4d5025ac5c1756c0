package grace

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// The engine's words and each CPU's two groups fill whole cache lines, so
// that words written by different parties never share one, and every 64-bit
// atomic is 8-byte aligned (32-bit platforms; GOARCH=386 go test runs it
// where it matters).
// Mutants caught: none.
func TestLayout(t *testing.T) {
	var g stretch
	for _, off := range []uintptr{unsafe.Offsetof(g.seqLine), unsafe.Offsetof(g.needLine),
		unsafe.Offsetof(g.statsLine), unsafe.Offsetof(g.d)} {
		require.Zero(t, off%percpu.CacheLine, "stretch: group at offset %d does not start a line", off)
	}
	var p perCPU
	require.Zero(t, unsafe.Sizeof(p)%percpu.CacheLine, "perCPU size %d is not a multiple of the %d-byte line", unsafe.Sizeof(p), percpu.CacheLine)
	require.Zero(t, unsafe.Offsetof(p.ownerSide)%percpu.CacheLine, "ownerSide does not start a line")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[stretch]()), "64-bit atomics not 8-byte aligned")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[perCPU]()), "64-bit atomics not 8-byte aligned")
	// The memb flavour: each reader's word on a line of its own, the
	// engine's words on theirs.
	var m memb
	for _, off := range []uintptr{unsafe.Offsetof(m.membGP), unsafe.Offsetof(m.qsbrDone), unsafe.Offsetof(m.qsbrDrive),
		unsafe.Offsetof(m.membRegistry), unsafe.Offsetof(m.fenced)} {
		require.Zero(t, off%percpu.CacheLine, "memb: group at offset %d does not start a line", off)
	}
	require.Zero(t, unsafe.Sizeof(membReader{})%percpu.CacheLine, "membReader size %d is not a multiple of the line", unsafe.Sizeof(membReader{}))
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[memb]()), "64-bit atomics not 8-byte aligned")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[membReader]()), "64-bit atomics not 8-byte aligned")
}

// A plain build's Pointer.Load loads the word of an atomicx.UnsafePointer as
// an unsafe.Pointer (load_bare.go): the type must be that one field, and
// Store must write where Load reads.
// Mutants caught: none.
func TestUnsafePointerLayout(t *testing.T) {
	typ := reflect.TypeFor[atomicx.UnsafePointer]()
	require.Equal(t, 1, typ.NumField(), "atomicx.UnsafePointer has fields besides the pointer")
	require.Equal(t, reflect.TypeFor[unsafe.Pointer](), typ.Field(0).Type, "atomicx.UnsafePointer's field")
	require.Zero(t, typ.Field(0).Offset)
	var p Pointer[int]
	v := new(int)
	p.v.Store(unsafe.Pointer(v))
	require.Same(t, v, (*int)(*(*unsafe.Pointer)(unsafe.Pointer(&p.v))), "the punned word")
}
