package ctseq

import (
	"fmt"
	"runtime/debug"
)

// Table maps work bits to handlers. The zero Table has no handlers. Fill it
// before the owner starts; Drain only reads it.
type Table struct {
	h [WorkBits]func()
}

// Set registers h as the handler of bit b: the code run for that bit. It
// runs on the owner, in kernel mode, early: it must not block, and it must
// not rely on state that another pending bit protects (the danger zone
// between KernelEnter and its drain). Set panics if b is out of range or h
// is nil. Not safe to call concurrently with Drain.
func (t *Table) Set(b int, h func()) {
	if b >= WorkBits {
		panic(fmt.Sprintf("ctseq: Table.Set: bit %d out of range [0, %d)", b, WorkBits))
	}
	if h == nil {
		panic(fmt.Sprintf("ctseq: Table.Set: nil handler for bit %d", b))
	}
	t.h[b] = h
}

// registered returns the set of bits that have a handler.
func (t *Table) registered() Work {
	var w Work
	for b, h := range t.h {
		if h != nil {
			w |= 1 << b
		}
	}
	return w
}

// HandlerPanic is the value Drain panics with when handlers panicked: the
// first one's bit, value and stack, and how many others panicked after it.
type HandlerPanic struct {
	Bit    int
	Value  any
	Stack  []byte
	Others int
}

// Error describes the first panic and counts the others.
func (p *HandlerPanic) Error() string {
	s := fmt.Sprintf("ctseq: handler for bit %d panicked: %v", p.Bit, p.Value)
	if p.Others > 0 {
		s += fmt.Sprintf(" (and %d more handlers panicked)", p.Others)
	}
	return s
}

// Unwrap returns the panic value if it is an error.
func (p *HandlerPanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// Drain runs the handler of every bit in work, lowest bit first, each exactly
// once.
//
// A handler that panics does not lose the others: Drain recovers, runs every
// remaining bit, and then panics with a *HandlerPanic that carries the first
// panic's bit, value and stack and counts the rest. A bit without a handler
// is treated the same way (it is a programming error: the bit was accepted
// but nobody registered code for it). Drain of an empty set costs one
// comparison.
//
// A handler that calls runtime.Goexit (as testing.T.FailNow does) is
// treated like one that panics: before the goroutine goes on exiting, Drain
// runs every remaining bit, from the deferred call that sees the Goexit
// pass. Then the Goexit goes on (the deferred calls of Drain's callers run
// after every handler), unless a remaining handler panicked: Drain then
// panics with the *HandlerPanic, as it would have without the Goexit.
func (t *Table) Drain(work Work) {
	if p := t.run(work); p != nil {
		panic(p)
	}
}

// run is Drain that returns the panic instead of raising it: it runs every
// bit of work, lowest first, each exactly once, and returns nil if no handler
// panicked, or the *HandlerPanic that Drain would raise. A caller with
// bookkeeping to finish after the handlers (publishing their completion, say)
// does it between run and its own panic, without a deferred call; but run
// does not return if a handler calls runtime.Goexit (the remaining bits
// still run, see Drain), so bookkeeping that must follow the handlers
// however they end belongs in a deferred call.
func (t *Table) run(work Work) *HandlerPanic {
	r := runner{t: t, work: work}
	for r.work != 0 {
		r.run()
	}
	return r.p
}

// runner is the state of one Table.run, shared with the deferred recover.
type runner struct {
	t    *Table
	work Work // the bits not yet started
	cur  int  // the bit whose handler is running
	// in is true while the handler of cur runs: a deferred recover that
	// finds no panic while it is set sees a runtime.Goexit pass.
	in bool
	p  *HandlerPanic
}

// run runs the bits of r.work in order until one panics. One deferred
// recover per panic, not per handler, keeps the common path cheap; a bit
// leaves r.work before its handler starts, so that after a panic the loop in
// Table.run resumes with the next one.
func (r *runner) run() {
	defer r.recover()
	for r.work != 0 {
		cur, _ := r.work.lowest()
		r.cur = cur
		r.work &^= 1 << cur
		h := r.t.h[cur]
		if h == nil {
			panic(fmt.Sprintf("ctseq: Table.Drain: no handler for bit %d", cur))
		}
		r.in = true
		h()
		r.in = false
	}
}

// recover records a panic of the handler of r.cur: the first one in full,
// the others as a count.
func (r *runner) recover() {
	v := recover()
	if v == nil {
		if r.in {
			r.goexit()
		}
		return
	}
	r.in = false
	if r.p == nil {
		r.p = &HandlerPanic{Bit: r.cur, Value: v, Stack: debug.Stack()}
	} else {
		r.p.Others++
	}
}

// goexit runs the bits left when the handler of r.cur called
// runtime.Goexit, from run's deferred recover, as the Goexit unwinds: each
// in its own run, so that a panic or another Goexit among them is handled
// as any other. A recorded panic is then raised, as Drain would; otherwise
// the Goexit goes on when the deferred call returns.
func (r *runner) goexit() {
	r.in = false
	for r.work != 0 {
		r.run()
	}
	if r.p != nil {
		panic(r.p)
	}
}
