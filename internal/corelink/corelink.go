// Package corelink is how the packages built on ctdefer's core (grace,
// lazytlb) reach what the core does not export. The root package fills in
// the accessors at init; only this module can import it.
package corelink

import (
	"sync"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Watchers is a domain's set of functions to call when one of its CPUs
// stops holding references without reporting it: its owner parks it
// (CPU.Idle) or releases it. A grace-period waiter asleep over such a CPU
// registers its wake-up here, so that it sleeps until woken rather than
// polling. The zero value is ready to use.
type Watchers struct {
	mu  atomicx.Mutex              // serialises Add and its removals
	fns atomicx.Pointer[[]*func()] // copy on write: Notify reads without the lock
}

// Add registers fn and returns the function that removes it (idempotent).
// fn must not block: it runs on the owner's thread.
func (w *Watchers) Add(fn func()) (remove func()) {
	p := &fn
	w.mu.Lock()
	w.fns.Store(with(w.fns.Load(), p)) // store: publishes the new set; pairs with Notify's load
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			w.fns.Store(without(w.fns.Load(), p)) // store: as in Add
			w.mu.Unlock()
		})
	}
}

// Notify calls every registered function: the core calls it after the
// state change is published (the CPU's word in Idle, or its claim
// cleared), so that a waiter that announced its sleep before looking either
// sees the change or is woken here. One load when nobody watches.
func (w *Watchers) Notify() {
	p := w.fns.Load() // load: pairs with Add's store
	if p == nil {
		return
	}
	for _, fn := range *p {
		(*fn)()
	}
}

func with(old *[]*func(), p *func()) *[]*func() {
	var s []*func()
	if old != nil {
		s = append(s, *old...)
	}
	s = append(s, p)
	return &s
}

func without(old *[]*func(), p *func()) *[]*func() {
	if old == nil {
		return nil
	}
	var s []*func()
	for _, q := range *old {
		if q != p {
			s = append(s, q)
		}
	}
	if len(s) == 0 {
		return nil
	}
	return &s
}
