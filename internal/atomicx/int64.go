package atomicx

import "go.uber.org/atomic"

// Int64 is an atomic signed 64-bit word. The zero value is 0 and ready to
// use. An Int64 must not be copied after first use; on 32-bit platforms it
// must be 64-bit aligned (place it first in its struct).
type Int64 struct {
	v atomic.Int64
}

// Load atomically loads the word.
func (i *Int64) Load() int64 {
	if Instrumented {
		yield(OpLoad, i)
	}
	return i.v.Load()
}

// Store atomically stores val.
func (i *Int64) Store(val int64) {
	if Instrumented {
		yield(OpStore, i)
	}
	i.v.Store(val)
}

// Add atomically adds delta and returns the new value.
func (i *Int64) Add(delta int64) int64 {
	if Instrumented {
		yield(OpAdd, i)
	}
	return i.v.Add(delta)
}

// Inc atomically adds one and returns the new value.
func (i *Int64) Inc() int64 { return i.Add(1) }

// Dec atomically subtracts one and returns the new value.
func (i *Int64) Dec() int64 { return i.Add(-1) }

// Swap atomically stores val and returns the previous value.
func (i *Int64) Swap(val int64) int64 {
	if Instrumented {
		yield(OpSwap, i)
	}
	return i.v.Swap(val)
}

// CompareAndSwap atomically replaces old by new if the word holds old, and
// reports whether it did.
func (i *Int64) CompareAndSwap(old, new int64) bool {
	if Instrumented {
		yield(OpCAS, i)
	}
	return i.v.CompareAndSwap(old, new)
}

// Peek implements Word.
func (i *Int64) Peek() uint64 { return uint64(i.v.Load()) }
