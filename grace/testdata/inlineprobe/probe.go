// Package inlineprobe calls the read-side fast paths of package grace from
// another package, as a user would, so that TestIntendedInlining can read
// the compiler's inlining decisions.
package inlineprobe

import (
	"sync/atomic"

	"github.com/ctdefer/ctdefer/grace"
)

func Load(p *grace.Pointer[int]) *int                      { return p.Load() }
func Store(p *grace.Pointer[int], v *int)                  { p.Store(v) }
func Swap(p *grace.Pointer[int], v *int) *int              { return p.Swap(v) }
func CompareAndSwap(p *grace.Pointer[int], o, n *int) bool { return p.CompareAndSwap(o, n) }
func Quiescent(r *grace.Reader)                            { r.Quiescent() }

// AtomicLoad is Load's baseline: sync/atomic's typed pointer.
func AtomicLoad(p *atomic.Pointer[int]) *int { return p.Load() }
func Lock(h *grace.Handle)                   { h.Lock() }
func Unlock(h *grace.Handle)                 { h.Unlock() }
