package corelink

import (
	"weak"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// View is what grace and lazytlb see of a Domain: each CPU's word and
// claimed flag, read in place (the scans of grace periods inline them), and
// the Domain's slow-path services. C is ctdefer.CPU (a type parameter, since
// this package cannot import the root). Read-only once made.
type View[C any] struct {
	Index percpu.Index // the Domain's CPUs, in its order; CPUs[i] is Index.List()[i]
	CPUs  []CPU

	Watchers *Watchers // called when a CPU parks or is released

	// Holder returns the handle of cpu's current claim, weakly, or the zero
	// weak.Pointer if nobody holds cpu. Two claims never return equal weak
	// pointers, so comparing with weak.Make(c) tells whether c is still
	// cpu's claim. While a new Claim is under way it may still return the
	// previous claim's handle.
	Holder func(cpu int) weak.Pointer[C]

	// ReapExited takes cpu back if its owner's thread has exited without
	// Release (its pending work is handed back with ErrOwnerGone), and
	// reports whether it did. With collect, an owner that only a garbage
	// collection can show gone gets one: pass it rarely. A system call when
	// cpu is claimed: slow paths only.
	ReapExited func(cpu int, collect bool) bool

	// Owns reports whether c is a handle of one of the Domain's CPUs (of
	// this Domain, not another).
	Owns func(c *C) bool

	// Closed reports whether the Domain's Close has begun.
	Closed func() bool

	// CallerCPU reports the CPU of the Domain that the calling thread owns,
	// and false if none: a gettid system call and a lookup.
	CallerCPU func() (cpu int, ok bool)

	// Quiesce declares a quiescent state on the owner's CPU c (grace's
	// Checkpoint): the owner's checks, then one atomic add on the word;
	// method names the caller in a misuse panic.
	Quiesce func(c *C, method string)
}

// CPU is one CPU of a View.
type CPU struct {
	Word    *ctseq.Word   // the context-tracking word
	Claimed *atomicx.Bool // set by Claim's CAS, cleared by Release's store
}

// Observe returns whether a worker holds cpu and, if one does, its word: the
// claimed flag is loaded first, then the word. An unknown or unclaimed CPU
// reports false and the zero Snapshot (nothing runs there).
func (v *View[C]) Observe(cpu int) (ctseq.Snapshot, bool) {
	// load (claimed): pairs with the CAS in Claim and the store in Release.
	// load (word): pairs with the owner's transition adds.
	if i := v.Index.Of(cpu); i >= 0 && v.CPUs[i].Claimed.Load() {
		return v.CPUs[i].Word.Snapshot(), true
	}
	return ctseq.Snapshot{}, false
}

// Snapshot returns cpu's word, and false for a CPU not in the Domain.
func (v *View[C]) Snapshot(cpu int) (ctseq.Snapshot, bool) {
	if i := v.Index.Of(cpu); i >= 0 {
		return v.CPUs[i].Word.Snapshot(), true // load: pairs with the owner's transition adds
	}
	return ctseq.Snapshot{}, false
}

// State returns cpu's state (Kernel for a CPU not in the Domain).
func (v *View[C]) State(cpu int) ctseq.State {
	s, _ := v.Snapshot(cpu)
	return s.State()
}

// QuiescentSince reports whether cpu has passed through a quiescent state
// since snap (ctseq.Word.QuiescentSince). A CPU not in the Domain reports
// true: nothing runs there.
func (v *View[C]) QuiescentSince(cpu int, snap ctseq.Snapshot) bool {
	i := v.Index.Of(cpu)
	return i < 0 || v.CPUs[i].Word.QuiescentSince(snap) // load: pairs with the owner's transition or Quiesce add
}

// Claimed reports whether a worker holds cpu.
func (v *View[C]) Claimed(cpu int) bool {
	i := v.Index.Of(cpu)
	return i >= 0 && v.CPUs[i].Claimed.Load() // load: pairs with the CAS in Claim and the store in Release
}

// ViewOf returns a *View[ctdefer.CPU] for a *ctdefer.Domain, as an any.
// The root package sets it at init; use Of.
var ViewOf func(domain any) any

// Of returns d's View (d a *ctdefer.Domain, C ctdefer.CPU).
func Of[C any](d any) *View[C] { return ViewOf(d).(*View[C]) }
