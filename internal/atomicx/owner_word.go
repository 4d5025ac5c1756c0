package atomicx

// OwnerWord is a 64-bit word that one goroutine at a time writes (its
// owner) and that anyone may read: a read-side state word that the writer
// publishes with a plain store, and that other goroutines order against
// with a process-wide barrier of their own (membarrier(2), as liburcu's
// memb flavour does), not with a fence on the owner's side.
//
// Where the platform allows it (64-bit, without the race detector and the
// interleaving explorer), Store is a plain store of the word (a MOV: no
// lock prefix, no fence) and OwnerLoad a plain load; Load reads the word
// atomically. The rule that makes the plain store safe is the caller's:
// every reader of the word that needs the store ordered before the owner's
// later accesses must run a barrier that reaches the owner's thread
// (membarrier) between its own accesses, and the owner must keep program
// order between the store and its later accesses at the compiler level,
// which the Go compiler does for memory operations on either side of a
// store (see docs/design/grace.md, "The memb flavour"). A racing reader
// sees the value before or after the store, never a torn one (the Go memory
// model, "Implementation Restrictions for Programs Containing Data Races",
// for word-sized locations). StoreFence is the atomic, sequentially
// consistent store, for owners that cannot rely on such a barrier.
//
// Elsewhere (32-bit platforms, where a 64-bit word is two; race-detector
// builds, which would report the plain store against the atomic load; and
// the explorer's builds, where each access is a scheduling point) every
// operation is atomic and sequentially consistent.
//
// The zero value is 0. It must be 8-byte aligned (put it first in its
// group) and must not be copied after first use.
type OwnerWord struct {
	v uint64
}

// Peek implements Word.
func (w *OwnerWord) Peek() uint64 { return w.load() }
