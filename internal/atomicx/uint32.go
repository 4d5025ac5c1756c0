package atomicx

import "go.uber.org/atomic"

// Uint32 is an atomic 32-bit word. The zero value is 0 and ready to use. A
// Uint32 must not be copied after first use.
type Uint32 struct {
	v atomic.Uint32
}

// Load atomically loads the word.
func (u *Uint32) Load() uint32 {
	if Instrumented {
		yield(OpLoad, u)
	}
	return u.v.Load()
}

// Store atomically stores val.
func (u *Uint32) Store(val uint32) {
	if Instrumented {
		yield(OpStore, u)
	}
	u.v.Store(val)
}

// Add atomically adds delta (wrapping) and returns the new value.
func (u *Uint32) Add(delta uint32) uint32 {
	if Instrumented {
		yield(OpAdd, u)
	}
	return u.v.Add(delta)
}

// Sub atomically subtracts delta (wrapping) and returns the new value.
func (u *Uint32) Sub(delta uint32) uint32 {
	if Instrumented {
		yield(OpAdd, u)
	}
	return u.v.Sub(delta)
}

// Inc atomically adds one and returns the new value.
func (u *Uint32) Inc() uint32 { return u.Add(1) }

// Dec atomically subtracts one and returns the new value.
func (u *Uint32) Dec() uint32 { return u.Sub(1) }

// Swap atomically stores val and returns the previous value.
func (u *Uint32) Swap(val uint32) uint32 {
	if Instrumented {
		yield(OpSwap, u)
	}
	return u.v.Swap(val)
}

// CompareAndSwap atomically replaces old by new if the word holds old, and
// reports whether it did.
func (u *Uint32) CompareAndSwap(old, new uint32) bool {
	if Instrumented {
		yield(OpCAS, u)
	}
	return u.v.CompareAndSwap(old, new)
}

// Peek implements Word.
func (u *Uint32) Peek() uint64 { return uint64(u.v.Load()) }

// Int32 is an atomic signed 32-bit word. The zero value is 0 and ready to
// use. An Int32 must not be copied after first use.
type Int32 struct {
	v atomic.Int32
}

// Load atomically loads the word.
func (i *Int32) Load() int32 {
	if Instrumented {
		yield(OpLoad, i)
	}
	return i.v.Load()
}

// Store atomically stores val.
func (i *Int32) Store(val int32) {
	if Instrumented {
		yield(OpStore, i)
	}
	i.v.Store(val)
}

// Add atomically adds delta and returns the new value.
func (i *Int32) Add(delta int32) int32 {
	if Instrumented {
		yield(OpAdd, i)
	}
	return i.v.Add(delta)
}

// Inc atomically adds one and returns the new value.
func (i *Int32) Inc() int32 { return i.Add(1) }

// Dec atomically subtracts one and returns the new value.
func (i *Int32) Dec() int32 { return i.Add(-1) }

// CompareAndSwap atomically replaces old by new if the word holds old, and
// reports whether it did.
func (i *Int32) CompareAndSwap(old, new int32) bool {
	if Instrumented {
		yield(OpCAS, i)
	}
	return i.v.CompareAndSwap(old, new)
}

// Peek implements Word.
func (i *Int32) Peek() uint64 { return uint64(i.v.Load()) }

// Bool is an atomic boolean. The zero value is false and ready to use. A
// Bool must not be copied after first use.
type Bool struct {
	v atomic.Bool
}

// Load atomically loads the value.
func (b *Bool) Load() bool {
	if Instrumented {
		yield(OpLoad, b)
	}
	return b.v.Load()
}

// Store atomically stores val.
func (b *Bool) Store(val bool) {
	if Instrumented {
		yield(OpStore, b)
	}
	b.v.Store(val)
}

// Swap atomically stores val and returns the previous value.
func (b *Bool) Swap(val bool) bool {
	if Instrumented {
		yield(OpSwap, b)
	}
	return b.v.Swap(val)
}

// CompareAndSwap atomically replaces old by new if the value is old, and
// reports whether it did.
func (b *Bool) CompareAndSwap(old, new bool) bool {
	if Instrumented {
		yield(OpCAS, b)
	}
	return b.v.CompareAndSwap(old, new)
}

// Peek implements Word: 1 for true, 0 for false.
func (b *Bool) Peek() uint64 {
	if b.v.Load() {
		return 1
	}
	return 0
}

// Or atomically sets the bits of mask and returns the previous value. It
// always writes, even when the bits are already set, so it publishes the
// caller's earlier writes like any read-modify-write. It is a
// compare-and-swap loop (go.uber.org/atomic has no Or; it is also the code
// the compiler emits for sync/atomic's Or when its result is used); under
// the explorer the whole read-modify-write is one step.
func (u *Uint32) Or(mask uint32) uint32 {
	if Instrumented {
		yield(OpAdd, u)
	}
	for {
		old := u.v.Load()
		if u.v.CompareAndSwap(old, old|mask) {
			return old
		}
	}
}
