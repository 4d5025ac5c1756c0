package atomicx

import "time"

// Futex is a 32-bit word that a thread can sleep on, Linux's futex(2)
// contract: Wait(v) sleeps only while the word holds v (the kernel compares
// and sleeps atomically, so a change made before the sleep starts is never
// missed), and Wake wakes the sleepers. Wait may also return spuriously:
// callers re-check their condition after every return. On other platforms a
// one-token channel gives the same contract.
//
// Under the explorer (ctdefer_explore builds) a sleep is a blocking state of
// the explored thread, ended by a Wake or a change of the word, so that a
// lost wake-up is found as a deadlock rather than a hang.
//
// The zero Futex is not ready: call Init once before use.
type Futex struct {
	v  Uint32
	os futexOS
}

// Init prepares the futex; call it once, before any other method.
func (f *Futex) Init() { f.initOS() }

// Load atomically loads the word.
func (f *Futex) Load() uint32 { return f.v.Load() }

// Add atomically adds delta to the word and returns the new value.
func (f *Futex) Add(delta uint32) uint32 { return f.v.Add(delta) }

// Store atomically stores val in the word (it wakes nobody: call Wake).
func (f *Futex) Store(val uint32) { f.v.Store(val) }

// CompareAndSwap atomically replaces old with new and reports whether it did.
func (f *Futex) CompareAndSwap(old, new uint32) bool { return f.v.CompareAndSwap(old, new) }

// Wait sleeps while the word holds val (see Futex).
func (f *Futex) Wait(val uint32) {
	if block(f, val) {
		return
	}
	f.sleep(val)
}

// WaitFor is Wait for at most d (d < 0: no limit). Under the explorer the
// sleep is untimed: only a Wake or a change of the word ends it, so a
// missing wake-up is still found as a deadlock.
func (f *Futex) WaitFor(val uint32, d time.Duration) {
	if block(f, val) {
		return
	}
	f.sleepFor(val, d)
}

// Wake wakes every thread sleeping on the word.
func (f *Futex) Wake() {
	if Instrumented {
		yield(OpWake, f)
	}
	f.wake()
}

// Peek implements Word.
func (f *Futex) Peek() uint64 { return f.v.Peek() }
