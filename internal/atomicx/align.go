package atomicx

import "sync/atomic"

// Align64 is a zero-size field that gives its struct 8-byte alignment on
// 32-bit platforms, even where the compiler places the struct itself (on the
// stack, in a larger struct): sync/atomic's 64-bit types carry that
// guarantee, go.uber.org/atomic's and so this package's do not. Put it first:
//
//	type mm struct {
//		_   atomicx.Align64
//		gen atomicx.Uint64 // 8-aligned on 386 too
//	}
type Align64 = [0]atomic.Uint64
