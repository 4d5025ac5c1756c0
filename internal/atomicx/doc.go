// Package atomicx is the one door through which every package of ctdefer
// touches memory shared between goroutines: no other non-test file of the
// module imports sync/atomic or go.uber.org/atomic (TestOnlyAtomicxImportsAtomics,
// in the module root's imports_test.go, enforces it).
//
// In a normal build each method is a direct call into go.uber.org/atomic,
// which the compiler inlines down to the bare instruction (LOCK XADD,
// LOCK CMPXCHG, MOV): the production build costs exactly what a raw atomic
// costs, as the ctseq benchmarks show side by side.
//
// Built with the tag ctdefer_explore, every method first calls the Yield hook
// (see yield_explore.go) so that the exhaustive interleaving explorer can stop
// the calling goroutine before each shared-memory access and choose which
// goroutine runs next. Because Go atomics are sequentially consistent
// (the Go memory model's DRF-SC guarantee), exploring interleavings at the
// granularity of these calls is exact for code that shares only atomics.
//
// Memory ordering: every operation here is sequentially consistent, as all Go
// atomics are. Callers document which ordering they rely on; where a weaker
// ordering would have sufficed they say so.
package atomicx
