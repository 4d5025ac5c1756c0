package lazytlb

import "github.com/ctdefer/ctdefer/internal/atomicx"

// The per-CPU lazy-TLB state word (Off, OK, Lazy, Flush) and the only
// operations on it:
//   - the owner's store, for Off and OK, which only the owner writes;
//   - the owner's swap, for the switch back and for Leave;
//   - a shootdown's CAS from Lazy to Flush (mark).
//
// A Flush is consumed only by a swap that returns it, never by a plain
// store. The shootdown, the join and Leave that use this word are in
// shootdown.go, cpu.go and mm.go.
//
// The protocol and its invariants (no stale translation, FLUSH is never
// overwritten, lazy only from OK, Leave leaves no send behind), with the
// lost-flush interleaving written out: docs/design/lazytlb.md.

// tlbState is a CPU's lazy-TLB state for the address space it has loaded.
type tlbState uint8

// The states of a CPU (Off, OK, Lazy, Flush in the docs). The numeric
// values are the word's values.
const (
	// Off: no address space loaded (the zero value of a slot).
	stOff tlbState = iota
	// OK: the CPU runs code that uses its address space; a shootdown must
	// interrupt it (an IPI).
	stOK
	// Lazy: the CPU runs other work with the address space still loaded
	// (a kernel thread borrowing the mm). A shootdown marks it Flush
	// instead of interrupting it.
	stLazy
	// Flush: lazy, and a shootdown asked for a flush at the switch back.
	stFlush
)

// stateWord is one CPU's state word. Invariants (FLUSH is never overwritten, lazy only from OK:
// docs/design/lazytlb.md):
// only the owner moves it out of OK, Off and Flush, and into Lazy; a
// shootdown writes it only by CAS(Lazy -> Flush); every Flush is consumed by
// an owner read-modify-write that returns it (Swap in 3 or 4), never by a
// plain store.
type stateWord struct {
	v atomicx.Uint64
}

func (w *stateWord) load() tlbState {
	return tlbState(w.v.Load()) // load: pairs with the owner's Store/Swap and the shootdowns' CAS
}

// store is for transitions out of states that only the owner writes (Off,
// OK) and for the flush-on-switch switch back.
func (w *stateWord) store(s tlbState) {
	w.v.Store(uint64(s)) // store: owner only, from Off or OK (no CAS targets them); pairs with the shootdown's load (7)
}

// swap is the switch back (3) and leave (4).
func (w *stateWord) swap(s tlbState) tlbState {
	// swap: read and replace in one step, so a mark (CAS Lazy -> Flush)
	// lands before it (and is returned) or after it (and fails). Pairs
	// with the CAS in mark. Full barrier: the gen load after it cannot
	// move before it.
	return tlbState(w.v.Swap(uint64(s)))
}

// mark turns a Lazy CPU into Flush (FLUSH is never overwritten).
func (w *stateWord) mark() bool {
	// CAS: Lazy -> Flush only if the owner has not switched back. Pairs
	// with the owner's Swap in switchBack and leave.
	return w.v.CompareAndSwap(uint64(stLazy), uint64(stFlush))
}
