//go:build race || ctdefer_explore || !(amd64 || arm64 || ppc64 || ppc64le || riscv64 || s390x || loong64 || mips64 || mips64le)

package atomicx

import "sync/atomic"

// Store atomically stores v (see OwnerWord for when it is plain).
func (w *OwnerWord) Store(v uint64) {
	if Instrumented {
		yield(OpStore, w)
	}
	atomic.StoreUint64(&w.v, v)
}

// StoreFence atomically stores v, sequentially consistent.
func (w *OwnerWord) StoreFence(v uint64) {
	if Instrumented {
		yield(OpStore, w)
	}
	atomic.StoreUint64(&w.v, v)
}

// OwnerLoad atomically reads the word (owner only). It is not a scheduling
// point of the explorer: only the owner writes the word, so its own read
// races with nothing.
func (w *OwnerWord) OwnerLoad() uint64 { return atomic.LoadUint64(&w.v) }

// Load atomically reads the word, from any goroutine.
func (w *OwnerWord) Load() uint64 {
	if Instrumented {
		yield(OpLoad, w)
	}
	return atomic.LoadUint64(&w.v)
}

func (w *OwnerWord) load() uint64 { return atomic.LoadUint64(&w.v) }

// Enter is the plain build's Enter (see there), every access atomic.
func (w *OwnerWord) Enter(src *OwnerWord, nest, fence, bad uint64) bool {
	c := w.OwnerLoad()
	switch {
	case c == 0:
		w.Store(src.Load())
	case c&^fence == 0:
		w.StoreFence(src.Load() | c)
	case c&bad != 0 || c&nest == nest:
		return false
	default:
		w.Store(c + 1)
	}
	return true
}

// Exit is the plain build's Exit (see there), every access atomic.
func (w *OwnerWord) Exit(low, nest, bad, keep uint64) bool {
	c := w.OwnerLoad()
	switch {
	case c&low == 1:
		w.Store(0)
	case c&bad != 0 || c&nest == 0:
		return false
	case c&nest == 1:
		w.StoreFence(c & keep)
	default:
		w.Store(c - 1)
	}
	return true
}
