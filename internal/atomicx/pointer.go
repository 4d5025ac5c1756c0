package atomicx

import (
	"sync/atomic"
	"unsafe"
)

// Pointer is an atomic *T. The zero value is nil and ready to use. A
// Pointer must not be copied after first use.
//
// Unlike the other types here it calls sync/atomic's unsafe.Pointer
// functions directly rather than go.uber.org/atomic's generic Pointer: each
// generic layer is a call through a shape dictionary that the inliner
// charges for, and with two of them a one-line wrapper such as
// grace.Pointer.Load no longer fits the inlining budget. The instruction is
// the same MOV (XCHG, LOCK CMPXCHG).
type Pointer[T any] struct {
	_ [0]*T // T's pointer type, so that Pointer[T] and Pointer[U] do not convert
	v unsafe.Pointer
}

// Load atomically loads the pointer.
func (p *Pointer[T]) Load() *T {
	if Instrumented {
		yield(OpLoad, p)
	}
	return (*T)(atomic.LoadPointer(&p.v))
}

// Store atomically stores val.
func (p *Pointer[T]) Store(val *T) {
	if Instrumented {
		yield(OpStore, p)
	}
	atomic.StorePointer(&p.v, unsafe.Pointer(val))
}

// Swap atomically stores val and returns the previous pointer.
func (p *Pointer[T]) Swap(val *T) *T {
	if Instrumented {
		yield(OpSwap, p)
	}
	return (*T)(atomic.SwapPointer(&p.v, unsafe.Pointer(val)))
}

// CompareAndSwap atomically replaces old by new if the pointer is old, and
// reports whether it did.
func (p *Pointer[T]) CompareAndSwap(old, new *T) bool {
	if Instrumented {
		yield(OpCAS, p)
	}
	return atomic.CompareAndSwapPointer(&p.v, unsafe.Pointer(old), unsafe.Pointer(new))
}

// Peek implements Word: the pointer's address.
func (p *Pointer[T]) Peek() uint64 { return uint64(uintptr(atomic.LoadPointer(&p.v))) }

// UnsafePointer is an atomic unsafe.Pointer: Pointer without a type
// parameter. Generic code that wraps it (grace.Pointer) costs the inliner
// less than with a Pointer[T], whose methods it would reach through the
// shape's dictionary. The zero value is nil and ready to use; it must not
// be copied after first use.
type UnsafePointer struct {
	v unsafe.Pointer
}

// Load atomically loads the pointer.
func (p *UnsafePointer) Load() unsafe.Pointer {
	if Instrumented {
		yield(OpLoad, p)
	}
	return atomic.LoadPointer(&p.v)
}

// Store atomically stores val.
func (p *UnsafePointer) Store(val unsafe.Pointer) {
	if Instrumented {
		yield(OpStore, p)
	}
	atomic.StorePointer(&p.v, val)
}

// Swap atomically stores val and returns the previous pointer.
func (p *UnsafePointer) Swap(val unsafe.Pointer) unsafe.Pointer {
	if Instrumented {
		yield(OpSwap, p)
	}
	return atomic.SwapPointer(&p.v, val)
}

// CompareAndSwap atomically replaces old by new if the pointer is old, and
// reports whether it did.
func (p *UnsafePointer) CompareAndSwap(old, new unsafe.Pointer) bool {
	if Instrumented {
		yield(OpCAS, p)
	}
	return atomic.CompareAndSwapPointer(&p.v, old, new)
}

// Peek implements Word: the pointer's address.
func (p *UnsafePointer) Peek() uint64 { return uint64(uintptr(atomic.LoadPointer(&p.v))) }
