package percpu

import (
	"reflect"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Misaligned64 lists the 64-bit atomics (atomicx.Uint64, atomicx.Int64) of
// struct type typ, at any depth of nested structs and arrays, whose offset
// in typ is not a multiple of 8: on 32-bit platforms their operations
// fault unless the compiler happens to align them. Layout tests call it on
// every structure that holds such atomics (with an 8-aligned start: the
// first word of an allocation, or after atomicx.Align64), so that
// GOARCH=386 builds cannot drift.
func Misaligned64(typ reflect.Type) []string {
	var bad []string
	var walk func(t reflect.Type, off uintptr, path string)
	walk = func(t reflect.Type, off uintptr, path string) {
		switch {
		case t == reflect.TypeFor[atomicx.Uint64]() || t == reflect.TypeFor[atomicx.Int64]():
			if off%8 != 0 {
				bad = append(bad, path)
			}
		case t.Kind() == reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				walk(f.Type, off+f.Offset, path+"."+f.Name)
			}
		case t.Kind() == reflect.Array && t.Len() > 0:
			walk(t.Elem(), off, path+"[0]")
			if t.Len() > 1 {
				walk(t.Elem(), off+t.Elem().Size(), path+"[1]") // and so on, by the element's size
			}
		}
	}
	walk(typ, 0, typ.Name())
	return bad
}
