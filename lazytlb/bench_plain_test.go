//go:build !race

package lazytlb_test

import "unsafe"

// plainWord is w's state word as a plain uint64: the accesses through it
// are ordinary MOVs, not atomics, as the kernel's this_cpu_read and
// this_cpu_write. They race with the storm's atomic CAS on purpose (that is
// the 2016 patch's bug, priced here), so this file is not built with -race.
func plainWord(w *rawWord) *uint64 { return (*uint64)(unsafe.Pointer(&w.v)) }

// plainStoreBack is the 2016 patch's switch back: a plain read, a plain store.
func plainStoreBack(w *rawWord) uint64 {
	p := plainWord(w)
	old := *p
	*p = rawOK
	return old
}

// enterLazy is the benchmarks' EnterLazy: a plain store, as
// this_cpu_write(state, LAZY) (race_test.go has the atomic one for -race).
func enterLazy(w *rawWord) { *plainWord(w) = rawLazy }

func init() {
	switchWays = append(switchWays,
		switchWay{name: "plain-store", enter: enterLazy, back: plainStoreBack, storm: casStorm, base: atomicBase})
}
