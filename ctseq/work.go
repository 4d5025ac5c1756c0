package ctseq

import (
	"fmt"
	"math/bits"
)

// Work is a set of work bits, one per kind of deferrable work: bit b, for
// 0 <= b < WorkBits, stands for the handler registered at index b of a
// Table. It is a plain bit set: count its bits with math/bits.OnesCount16,
// print it with %#x.
type Work uint16

// Of returns the set holding only bit b. It panics if b is not in
// [0, WorkBits).
func Of(b int) Work {
	if uint(b) >= WorkBits {
		panic(fmt.Sprintf("ctseq: Of(%d): bit out of range [0, %d)", b, WorkBits))
	}
	return Work(1) << b
}

// Has reports whether w holds bit b.
func (w Work) Has(b int) bool { return uint(b) < WorkBits && w&(1<<b) != 0 }

// lowest returns the lowest bit set in w, and false if w is empty.
func (w Work) lowest() (int, bool) {
	if w == 0 {
		return 0, false
	}
	return bits.TrailingZeros16(uint16(w)), true
}
