package atomicx

import "go.uber.org/atomic"

// Uint64 is an atomic 64-bit word.
//
// The zero value is 0 and ready to use. A Uint64 must not be copied after
// first use. On 32-bit platforms it must be 64-bit aligned: place it first in
// its struct (go.uber.org/atomic does not align it for you), as every user in
// this module does.
type Uint64 struct {
	v atomic.Uint64
}

// Load atomically loads the word.
func (u *Uint64) Load() uint64 {
	if Instrumented {
		yield(OpLoad, u)
	}
	return u.v.Load()
}

// Store atomically stores val.
func (u *Uint64) Store(val uint64) {
	if Instrumented {
		yield(OpStore, u)
	}
	u.v.Store(val)
}

// Add atomically adds delta (wrapping) and returns the new value.
func (u *Uint64) Add(delta uint64) uint64 {
	if Instrumented {
		yield(OpAdd, u)
	}
	return u.v.Add(delta)
}

// Sub atomically subtracts delta (wrapping) and returns the new value.
func (u *Uint64) Sub(delta uint64) uint64 {
	if Instrumented {
		yield(OpAdd, u)
	}
	return u.v.Sub(delta)
}

// Swap atomically stores val and returns the previous value.
func (u *Uint64) Swap(val uint64) uint64 {
	if Instrumented {
		yield(OpSwap, u)
	}
	return u.v.Swap(val)
}

// CompareAndSwap atomically replaces old by new if the word holds old, and
// reports whether it did.
func (u *Uint64) CompareAndSwap(old, new uint64) bool {
	if Instrumented {
		yield(OpCAS, u)
	}
	return u.v.CompareAndSwap(old, new)
}

// Inc atomically adds one and returns the new value.
func (u *Uint64) Inc() uint64 { return u.Add(1) }

// Dec atomically subtracts one and returns the new value.
func (u *Uint64) Dec() uint64 { return u.Sub(1) }

// Peek implements Word.
func (u *Uint64) Peek() uint64 { return u.v.Load() }
