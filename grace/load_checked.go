//go:build race || ctdefer_debug || ctdefer_explore

package grace

import "unsafe"

// Load returns the published pointer (rcu_dereference): one atomic load,
// and it inlines. With the Domain's Options.Debug, in a race-detector build
// (go test -race) or one with the tag ctdefer_debug, it checks the caller
// first. (Under the explorer, ctdefer_explore, the load goes through
// internal/atomicx, whose operations the explorer schedules.)
func (p *Pointer[T]) Load() *T {
	v := p.v.Load() // load: pairs with Store, Swap and CompareAndSwap
	if v == nil {
		v = p.dbg.load() // nil, or Debug's checked load
	}
	return (*T)(v)
}

// load is Load when it finds v nil: the published pointer is nil (d is
// nil), or Debug keeps it here and checks the caller first. Out of line, so
// that Load inlines.
//
//go:noinline
func (d *pointerDebug) load() unsafe.Pointer {
	if d == nil {
		return nil
	}
	d.g.checkRead("Pointer.Load")
	return d.v.Load() // load: pairs with Store, Swap and CompareAndSwap
}
