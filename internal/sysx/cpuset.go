package sysx

import (
	"fmt"
	"math/bits"
)

// CPUSet is a set of CPU numbers of any size: unlike unix.CPUSet it is not
// limited to CPUs 0-1023, so it can describe every CPU a kernel built with a
// large NR_CPUS may report.
//
// The zero value is the empty set, ready to use. A CPUSet holds a slice:
// copying a CPUSet value copies a reference to the same bits, so a Set or
// Clear on the copy may show through the original. Treat a CPUSet you have
// handed out, or received, as read-only, and build a fresh one with
// [CPUSetOf] to modify it. (host.ParseCPUList and host.FormatCPUList read
// and write the kernel's list syntax.)
//
// Two CPUSets holding the same CPUs have identical representations (see the
// invariant on words), so reflect.DeepEqual, and testify's Equal, compare
// them by content.
//
// A CPUSet is not safe for concurrent use when one goroutine modifies it.
type CPUSet struct {
	// words is the bitmap: CPU n is bit n%64 of words[n/64].
	//
	//	words[0]: bit 63 ............................ bit 0
	//	          CPU 63                              CPU 0
	//	words[1]: CPU 127                             CPU 64
	//
	// Invariant: words is nil when the set is empty, and otherwise its last
	// element is non-zero (no trailing zero words). Set grows words only to
	// hold a set bit; Clear trims trailing zero words.
	words []uint64
}

// wordBits is the number of CPUs per element of CPUSet.words.
const wordBits = 64

// CPUSetOf returns the set holding exactly cpus. It panics if any of them is
// negative.
func CPUSetOf(cpus ...int) CPUSet {
	var s CPUSet
	for _, c := range cpus {
		if c < 0 {
			panic(fmt.Sprintf("sysx: CPUSetOf: negative cpu %d", c))
		}
		s.Set(c)
	}
	return s
}

// Set adds cpu to the set, growing it as needed. It panics if cpu is
// negative.
func (s *CPUSet) Set(cpu int) {
	if cpu < 0 {
		panic(fmt.Sprintf("sysx: CPUSet.Set: negative cpu %d", cpu))
	}
	i := cpu / wordBits
	if i >= len(s.words) {
		s.grow(i + 1)
	}
	s.words[i] |= 1 << (uint(cpu) % wordBits)
}

// Clear removes cpu from the set; clearing a CPU that is not in the set does
// nothing. It panics if cpu is negative.
func (s *CPUSet) Clear(cpu int) {
	if cpu < 0 {
		panic(fmt.Sprintf("sysx: CPUSet.Clear: negative cpu %d", cpu))
	}
	i := cpu / wordBits
	if i >= len(s.words) {
		return
	}
	s.words[i] &^= 1 << (uint(cpu) % wordBits)
	s.trim()
}

// Has reports whether cpu is in the set. Negative CPUs never are.
func (s CPUSet) Has(cpu int) bool {
	if cpu < 0 {
		return false
	}
	i := cpu / wordBits
	return i < len(s.words) && s.words[i]&(1<<(uint(cpu)%wordBits)) != 0
}

// Count returns the number of CPUs in the set.
func (s CPUSet) Count() int {
	n := 0
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// List returns the CPUs in the set in ascending order; nil for the empty
// set.
func (s CPUSet) List() []int {
	n := s.Count()
	if n == 0 {
		return nil
	}
	cpus := make([]int, 0, n)
	for i, w := range s.words {
		for w != 0 {
			cpus = append(cpus, i*wordBits+bits.TrailingZeros64(w))
			w &= w - 1 // clear the lowest set bit
		}
	}
	return cpus
}

// grow extends words to n elements, zero-filled. It always allocates a new
// array when it must extend, so a grown set no longer shares bits with
// copies made before.
func (s *CPUSet) grow(n int) {
	if n <= len(s.words) {
		return
	}
	w := make([]uint64, n)
	copy(w, s.words)
	s.words = w
}

// trim restores the invariant on words after bits were cleared.
func (s *CPUSet) trim() {
	n := len(s.words)
	for n > 0 && s.words[n-1] == 0 {
		n--
	}
	if n == 0 {
		s.words = nil
		return
	}
	s.words = s.words[:n]
}

// String returns the set's CPUs as fmt prints a slice, "[0 1 2 3 8]", for
// messages. (host.FormatCPUList writes the kernel's list format.)
func (s CPUSet) String() string { return fmt.Sprint(s.List()) }
