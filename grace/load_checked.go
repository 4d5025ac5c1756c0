//go:build race || ctdefer_debug || ctdefer_explore

package grace

// Load returns the published pointer (rcu_dereference): one atomic load,
// and it inlines. With the flavour's Debug option, in a race-detector build
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
