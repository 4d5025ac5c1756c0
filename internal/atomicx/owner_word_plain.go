//go:build !race && !ctdefer_explore && (amd64 || arm64 || ppc64 || ppc64le || riscv64 || s390x || loong64 || mips64 || mips64le)

package atomicx

import "sync/atomic"

// Store stores v: a plain store, owner only (see OwnerWord).
func (w *OwnerWord) Store(v uint64) { w.v = v }

// StoreFence atomically stores v, sequentially consistent: a full barrier
// on the owner's side.
func (w *OwnerWord) StoreFence(v uint64) { atomic.StoreUint64(&w.v, v) }

// OwnerLoad reads the word: a plain load, owner only.
func (w *OwnerWord) OwnerLoad() uint64 { return w.v }

// Load reads the word atomically, from any goroutine.
func (w *OwnerWord) Load() uint64 { return atomic.LoadUint64(&w.v) }

func (w *OwnerWord) load() uint64 { return atomic.LoadUint64(&w.v) }

// Enter is a read-side section's entry on an owner's word whose low bits
// count the nesting (nest is their mask) and carry flags: if the word is
// 0 it stores src's value (loaded atomically: an acquire) with a plain
// store; if it holds only the flag fence, it stores src's value or'ed with
// it, atomically (sequentially consistent: a full fence); if it has a bad
// flag or its count is at nest, it reports false and stores nothing;
// otherwise (nested) it adds one with a plain store. Owner only. One
// inlinable method, so that its caller inlines too.
func (w *OwnerWord) Enter(src *OwnerWord, nest, fence, bad uint64) bool {
	c := w.v
	switch {
	case c == 0:
		w.v = atomic.LoadUint64(&src.v)
	case c&^fence == 0:
		atomic.StoreUint64(&w.v, atomic.LoadUint64(&src.v)|c)
	case c&bad != 0 || c&nest == nest:
		return false
	default:
		w.v = c + 1
	}
	return true
}

// Exit is Enter's counterpart: if the word's low bits (low) are 1 (count 1,
// no flag) it stores 0 with a plain store; if it has a bad flag or its
// count is 0 it reports false and stores nothing; at count 1 with flags it
// stores the word and'ed with keep, atomically (a full fence); otherwise it
// subtracts one with a plain store. Owner only.
func (w *OwnerWord) Exit(low, nest, bad, keep uint64) bool {
	c := w.v
	switch {
	case c&low == 1:
		w.v = 0
	case c&bad != 0 || c&nest == 0:
		return false
	case c&nest == 1:
		atomic.StoreUint64(&w.v, c&keep)
	default:
		w.v = c - 1
	}
	return true
}
