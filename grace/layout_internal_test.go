package grace

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

// The engine's words and each CPU's two groups fill whole cache lines, so
// that words written by different parties never share one, and every 64-bit
// atomic is 8-byte aligned (32-bit platforms; GOARCH=386 go test runs it
// where it matters).
func TestLayout(t *testing.T) {
	var g Domain
	for _, off := range []uintptr{unsafe.Offsetof(g.seqLine), unsafe.Offsetof(g.needLine),
		unsafe.Offsetof(g.statsLine), unsafe.Offsetof(g.d)} {
		require.Zero(t, off%percpu.CacheLine, "Domain: group at offset %d does not start a line", off)
	}
	var p perCPU
	require.Zero(t, unsafe.Sizeof(p)%percpu.CacheLine, "perCPU size %d is not a multiple of the %d-byte line", unsafe.Sizeof(p), percpu.CacheLine)
	require.Zero(t, unsafe.Offsetof(p.ownerSide)%percpu.CacheLine, "ownerSide does not start a line")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[Domain]()), "64-bit atomics not 8-byte aligned")
	require.Empty(t, percpu.Misaligned64(reflect.TypeFor[perCPU]()), "64-bit atomics not 8-byte aligned")
}
