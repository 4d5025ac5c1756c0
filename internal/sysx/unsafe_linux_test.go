package sysx_test

import (
	"sync/atomic"
	"unsafe"
)

// unsafePointer gives the address of an atomic.Uint32's word, so tests can
// pass it to the futex calls while touching it from Go only atomically.
func unsafePointer(w *atomic.Uint32) unsafe.Pointer {
	return unsafe.Pointer(w)
}
