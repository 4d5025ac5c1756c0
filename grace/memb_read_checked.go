//go:build race || ctdefer_debug || ctdefer_explore

package grace

// The memb flavour's read side in the builds that check (race-detector
// builds, ctdefer_debug, and the explorer's): Lock and Unlock take one
// out-of-line path, whose misuse panics name the Handle's registration
// site and which, with Options.Debug, records the goroutine inside the
// outermost section for the waits' self-wait check. The protocol is the
// plain build's (memb_read.go).

// Lock enters a read-side section (rcu_read_lock): published pointers
// loaded from here until the matching Unlock stay valid until then.
// Sections nest. Lock on an unregistered Handle panics with a
// *ctdefer.MisuseError.
func (h *Handle) Lock() { h.r.lock() }

// Unlock leaves a read-side section (rcu_read_unlock). Unlock without a
// matching Lock, or on an unregistered Handle, panics with a
// *ctdefer.MisuseError.
func (h *Handle) Unlock() { h.r.unlock() }

func (r *membReader) lock() {
	c := r.ctr.OwnerLoad()
	if c&flagDead != 0 {
		misuse("Handle.Lock", -1, "unregistered", "Lock on a Handle after Unregister (registered at "+r.site+")")
	}
	switch n := c & nestMask; {
	case n == nestMask:
		misuse("Handle.Lock", -1, "nesting overflow", "more than 2^21-1 nested sections: a Lock without Unlock in a loop? (registered at "+r.site+")")
	case n != 0:
		r.ctr.Store(c + 1) // store: nested; the word stays held
		return
	}
	if c&flagDebug != 0 {
		r.owner.Store(goid()) // store: Debug's self-wait check; pairs with selfWait's load
	}
	if c&flagFence != 0 {
		// store: sequentially consistent (liburcu's mb flavour); load:
		// pairs with the driver's start store.
		r.ctr.StoreFence(r.word.Load() | c)
		return
	}
	r.ctr.Store(r.word.Load() | c) // as in the plain build's Lock
}

func (r *membReader) unlock() {
	c := r.ctr.OwnerLoad()
	if c&flagDead != 0 {
		misuse("Handle.Unlock", -1, "unregistered", "Unlock on a Handle after Unregister (registered at "+r.site+")")
	}
	switch c & nestMask {
	case 0:
		misuse("Handle.Unlock", -1, "not locked", "Unlock without a matching Lock (registered at "+r.site+")")
	case 1:
		if c&flagDebug != 0 {
			r.owner.Store(0) // store: as in lock
		}
		if c&flagFence != 0 {
			r.ctr.StoreFence(c & flagMask) // store: sequentially consistent (liburcu's mb flavour)
			return
		}
		r.ctr.Store(c & flagMask) // as in the plain build's Unlock
	default:
		r.ctr.Store(c - 1) // store: nested; the word stays held
	}
}
