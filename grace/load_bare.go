//go:build !race && !ctdefer_debug && !ctdefer_explore

package grace

import (
	"sync/atomic"
	"unsafe"
)

// Load returns the published pointer (rcu_dereference): one atomic load,
// and it inlines. With the Domain's Options.Debug, in a race-detector build
// (go test -race) or one with the tag ctdefer_debug, it checks the caller
// first; other builds compile the check away.
//
// This is the plain build's Load: the bare load, with no test and no
// wrapper. A test, even of the value loaded, costs a hot loop a taken branch
// per read, and each inlined wrapper leaves a NOP in the loop for its inline
// mark: together a fifth of the reads of liburcu's own benchmark
// (bench/liburcu/workload). The file is the one door past internal/atomicx
// (the explorer's build, ctdefer_explore, uses load_checked.go): the word is
// an atomicx.UnsafePointer, whose only field is the unsafe.Pointer loaded
// here (a layout test keeps it so).
func (p *Pointer[T]) Load() *T {
	return (*T)(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&p.v)))) // load: pairs with Store, Swap and CompareAndSwap
}
