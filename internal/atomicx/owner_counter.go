package atomicx

// OwnerCounter is a statistics counter that one goroutine at a time writes
// (a CPU's owner: the writers are ordered by the claim, the release or the
// park that hands the CPU over) and that anyone may read for reporting.
//
// Where the platform allows it (64-bit, without the race detector and the
// interleaving explorer), Inc and Add are plain read-modify-writes of the
// word: no lock prefix, so a counter on the kernel-entry path costs what an
// increment costs. Load reads the word atomically. A reader racing with the
// writer then sees the value before or after an increment, never a torn
// one: the Go memory model ("Implementation Restrictions for Programs
// Containing Data Races") requires a read of a word-sized location to
// observe a value actually written to it. That is the whole guarantee a
// statistic needs, and the one Linux's per-CPU counters rely on
// (this_cpu_inc on the owner, READ_ONCE by readers).
//
// Elsewhere (32-bit platforms, where a 64-bit word is two; race-detector
// builds, which would report the plain write against the atomic read; and
// the explorer's builds) every operation is atomic.
//
// It is never a scheduling point of the explorer (as Counter). The zero
// value is 0. It must be 8-byte aligned (put it first in its group, as the
// other 64-bit words) and must not be copied after first use.
type OwnerCounter struct {
	v uint64
}
