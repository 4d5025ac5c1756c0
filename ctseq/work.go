package ctseq

import (
	"fmt"
	"math/bits"
)

// Work is a set of work bits, one per kind of deferrable work. Bit i stands
// for the handler registered at index i of a Table.
type Work uint16

// Bit is the index of one work bit, 0 <= Bit < WorkBits.
type Bit uint8

// Of returns the set holding only bit b. It panics if b >= WorkBits.
func Of(b Bit) Work {
	if b >= WorkBits {
		panic(fmt.Sprintf("ctseq: Of(%d): bit out of range [0, %d)", b, WorkBits))
	}
	return Work(1) << b
}

// Has reports whether w holds bit b.
func (w Work) Has(b Bit) bool { return b < WorkBits && w&(1<<b) != 0 }

// Len returns the number of bits set in w.
func (w Work) Len() int { return bits.OnesCount16(uint16(w)) }

// lowest returns the lowest bit set in w, and false if w is empty.
func (w Work) lowest() (Bit, bool) {
	if w == 0 {
		return 0, false
	}
	return Bit(bits.TrailingZeros16(uint16(w))), true
}

// String formats the set in hex.
func (w Work) String() string { return fmt.Sprintf("Work(%#04x)", uint16(w)) }
