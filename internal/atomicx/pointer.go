package atomicx

import (
	"unsafe"

	"go.uber.org/atomic"
)

// Pointer is an atomic *T. The zero value is nil and ready to use. A
// Pointer must not be copied after first use.
type Pointer[T any] struct {
	v atomic.Pointer[T]
}

// Load atomically loads the pointer.
func (p *Pointer[T]) Load() *T {
	if Instrumented {
		yield(OpLoad, p)
	}
	return p.v.Load()
}

// Store atomically stores val.
func (p *Pointer[T]) Store(val *T) {
	if Instrumented {
		yield(OpStore, p)
	}
	p.v.Store(val)
}

// Swap atomically stores val and returns the previous pointer.
func (p *Pointer[T]) Swap(val *T) *T {
	if Instrumented {
		yield(OpSwap, p)
	}
	return p.v.Swap(val)
}

// CompareAndSwap atomically replaces old by new if the pointer is old, and
// reports whether it did.
func (p *Pointer[T]) CompareAndSwap(old, new *T) bool {
	if Instrumented {
		yield(OpCAS, p)
	}
	return p.v.CompareAndSwap(old, new)
}

// Peek implements Word: the pointer's address.
func (p *Pointer[T]) Peek() uint64 { return uint64(uintptr(unsafe.Pointer(p.v.Load()))) }
