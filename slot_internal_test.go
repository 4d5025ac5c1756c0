package ctdefer

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestSlotLayout checks that a slot is a whole number of cache lines (so
// adjacent slots never share one) and that each line group starts on its
// own line.
func TestSlotLayout(t *testing.T) {
	var s slot
	require.Zero(t, unsafe.Sizeof(s)%cacheLine, "slot size %d is not a multiple of the %d-byte line", unsafe.Sizeof(s), cacheLine)
	for _, off := range []uintptr{
		unsafe.Offsetof(s.wordLine), unsafe.Offsetof(s.mboxLine), unsafe.Offsetof(s.reschedLine), unsafe.Offsetof(s.parkLine),
		unsafe.Offsetof(s.progressLine), unsafe.Offsetof(s.ostats), unsafe.Offsetof(s.sstats),
		unsafe.Offsetof(s.coldLine),
	} {
		require.Zero(t, off%cacheLine, "group at offset %d does not start a line", off)
	}
	// Distinct groups: the word and the mailbox must be on different lines.
	require.GreaterOrEqual(t, unsafe.Offsetof(s.mboxLine)-unsafe.Offsetof(s.wordLine), cacheLine)
}

// TestSlot64BitAlignment walks every field of a slot and of a Domain and
// checks that each 64-bit atomic sits at an offset that is a multiple of 8,
// which 32-bit platforms need (go.uber.org/atomic does not align them).
// GOARCH=386 go test runs it where it matters.
func TestSlot64BitAlignment(t *testing.T) {
	var walk func(typ reflect.Type, base uintptr, path string)
	walk = func(typ reflect.Type, base uintptr, path string) {
		if typ.Kind() != reflect.Struct {
			return
		}
		atomic64 := (typ.PkgPath() == "go.uber.org/atomic" || typ.PkgPath() == "github.com/ctdefer/ctdefer/internal/atomicx") &&
			(typ.Name() == "Uint64" || typ.Name() == "Int64")
		if atomic64 {
			require.Zero(t, base%8, "64-bit atomic %s at offset %d is not 8-byte aligned", path, base)
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			walk(f.Type, base+f.Offset, path+"."+f.Name)
		}
	}
	walk(reflect.TypeOf(slot{}), 0, "slot")
	walk(reflect.TypeFor[Domain](), 0, "Domain")
}
