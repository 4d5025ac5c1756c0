package lazytlb

import (
	"fmt"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// CPU is the owner's handle on one CPU's lazy-TLB state. Get it with
// TLB.Attach on the goroutine that owns the CPU (the one that
// claimed it from the Domain); its methods may be called only from that
// goroutine, which is the one that runs the flush callback and the IPI
// handler. Remote code uses TLB.Shootdown. A CPU must not be copied.
//
// The owner's life, in the kernel's terms (numbers refer to the steps of
// docs/design/lazytlb.md, Protocol):
//
//	c.SwitchTo(mm)   // 1: load mm (join its set); flush if behind
//	...              // user code uses mm; poll IPIs
//	c.EnterLazy()    // 2: run other work, keeping mm loaded
//	...              // other work; poll IPIs
//	c.SwitchTo(mm)   // 3: switch back: use mm again; flush if a shootdown marked us
//	c.Leave()        // 4: switch away for good (leave the set)
//
// Call Leave before releasing the CPU (ctdefer.CPU.Release): a CPU left in
// an address space's set has no one to take its flush IPIs, so shootdowns
// of that address space panic until the CPU is claimed again, and the next
// Attach to the CPU panics. Leave itself waits for the
// shootdowns that are sending to the CPU at that moment, taking their IPIs,
// so that none of them is left waiting for a CPU nobody polls.
type CPU struct {
	_  percpu.NoCopy
	t  *TLB
	s  *slot
	dc *ctdefer.CPU // Attach: polled by Leave; nil for lazytlbsim.Owner
}

// owner returns the owner handle of cpu for a TLB of lazytlbsim.New
// (lazytlbsim.Owner): once per CPU; a second call for the same CPU panics.
func (t *TLB) owner(cpu int) (*CPU, error) {
	const call = "lazytlbsim.Owner"
	s := t.slotOf(cpu)
	if s == nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "cpu", Value: cpu,
			Reason: fmt.Sprintf("not one of the TLB's CPUs %v", t.cpus.List())}
	}
	if t.d != nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "tlb", Reason: "made by lazytlb.New: use TLB.Attach"}
	}
	c := &CPU{t: t, s: s}
	if !s.handle.CompareAndSwap(nil, c) {
		panic(fmt.Sprintf("lazytlb: TLB.owner: CPU %d already has an owner handle", cpu))
	}
	return c, nil
}

// Attach returns the owner handle of the CPU that c owns. Call it on c's
// owner goroutine; calls with the same c return the same handle, and a new
// claim of the CPU gets a new one. It panics if the CPU's previous owner
// released it without Leave (the CPU is still in an address space's set).
// Errors: a *ctdefer.ArgError (wrapping ctdefer.ErrInvalid) for a nil c or
// one of another Domain than the one given to New.
func (t *TLB) Attach(c *ctdefer.CPU) (*CPU, error) {
	const call = "lazytlb.TLB.Attach"
	if c == nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "c", Reason: "nil *ctdefer.CPU"}
	}
	if t.d == nil || !owns(t.d, c) {
		return nil, &ctdefer.ArgError{Call: call, Arg: "c", Value: c.CPU(), Reason: "a CPU of another Domain than the TLB's"}
	}
	s := t.slotOf(c.CPU())
	old := s.handle.Load()
	if old != nil && old.dc == c {
		return old, nil
	}
	// A new claim: the Domain allows one claimer at a time, so the owner
	// of old has released the CPU (its Release happens before c's Claim).
	if mm := s.loaded; mm != nil {
		panic(fmt.Sprintf("lazytlb: TLB.Attach: CPU %d still has address space %q loaded: its previous owner released it without CPU.Leave", s.cpu, mm.name))
	}
	h := &CPU{t: t, s: s, dc: c}
	if !s.handle.CompareAndSwap(old, h) {
		panic(fmt.Sprintf("lazytlb: TLB.Attach: CPU %d attached concurrently from two goroutines", s.cpu))
	}
	return h, nil
}

// SwitchTo makes mm the CPU's active address space and reports whether it
// flushed. It is the context switch, whatever the CPU ran before:
//   - mm loaded lazily (after EnterLazy): the switch back, one atomic swap
//     of the CPU's state word to OK; it flushes only if a shootdown marked
//     the CPU Flush meanwhile and the CPU is behind mm's generation.
//     Never allocates.
//   - nothing loaded: a join of mm's set, which flushes if the CPU is
//     behind mm's generation;
//   - another address space loaded (active or lazy): Leave, then a join;
//   - mm already active: nothing.
//
// A nil mm, or one of another TLB, panics.
func (c *CPU) SwitchTo(mm *MM) bool {
	if mm == nil || mm.t != c.t {
		panic("lazytlb: CPU.SwitchTo: nil MM or MM of another TLB")
	}
	s := c.s
	if s.loaded == mm {
		if !s.lazy {
			return false
		}
		return c.switchBack()
	}
	if s.loaded != nil {
		c.leave()
	}
	return c.join(mm)
}

// EnterLazy lets the CPU run other work while keeping its address space
// loaded (a kernel thread borrowing the mm): shootdowns stop interrupting it
// and mark it instead. One atomic store; never
// allocates. It panics if no address space is loaded or the CPU is already
// lazy.
func (c *CPU) EnterLazy() {
	s := c.s
	if s.loaded == nil || s.lazy {
		panic("lazytlb: CPU.EnterLazy: not active on an address space")
	}
	s.lazy = true
	s.state.store(stLazy) // from OK only the owner writes (lazy only from OK)
}

// Leave switches away from the loaded address space for good: the CPU leaves
// its set, so shootdowns no longer consider it; a later SwitchTo compares
// generations. Then it waits until no shootdown is still sending to the CPU
// (one that found the CPU in the set just before it left), polling
// meanwhile through the [*ctdefer.CPU] given to [TLB.Attach]. The wait
// lasts as long as a send that had already checked the CPU's membership:
// one IPI round trip, which this very poll completes. Call it before
// releasing the CPU. It panics if no address space is loaded.
func (c *CPU) Leave() {
	if c.s.loaded == nil {
		panic("lazytlb: CPU.Leave: no address space loaded")
	}
	c.leave()
}

// switchBack swaps back to OK and flushes if marked (FLUSH is never
// overwritten; docs/design/lazytlb.md).
func (c *CPU) switchBack() bool {
	s, t, mm := c.s, c.t, c.s.loaded
	s.lazy = false
	if t.opts.policy == lazytlbsim.PolicyFlushOnSwitch {
		s.state.store(stOK) // no shootdown writes a Lazy word under this policy
		// load: after the store that makes shootdowns IPI this CPU:
		// pairs with Shootdown's Add (Dekker).
		t.flush(s, mm, mm.gen.Load())
		s.ostats.switchFlushes.Inc()
		return true
	}
	if s.state.swap(stOK) != stFlush {
		return false // no shootdown relies on this CPU: the fast path ends here
	}
	s.ostats.marksSeen.Inc()
	if !t.flushIfBehind(s, mm) {
		return false // overtaken: an IPI or a join already flushed this far
	}
	s.ostats.switchFlushes.Inc()
	return true
}

// join enters the MM's set, then reads gen (no stale translation: the join
// Dekker pattern).
func (c *CPU) join(mm *MM) bool {
	s := c.s
	s.loaded, s.lazy = mm, false
	s.state.store(stOK) // from Off only the owner writes
	mm.join(s.idx)
	if !c.t.flushIfBehind(s, mm) {
		return false
	}
	s.ostats.joinFlushes.Inc()
	return true
}

// leave swaps to Off, leaves the set and waits for sends in flight (Leave
// leaves no send behind).
func (c *CPU) leave() {
	s := c.s
	if s.state.swap(stOff) == stFlush {
		// The mark is dropped: the CPU will compare generations when it
		// rejoins, and the marking shootdown's bump precedes that read.
		s.ostats.marksSeen.Inc()
	}
	s.loaded.leave(s.idx)
	s.loaded, s.lazy = nil, false // an IPI taken below flushes nothing
	// load: after mm.leave's CAS cleared the bit: pairs with the
	// shootdown's Add of inflight before its re-check (Dekker: Leave leaves no send behind).
	if s.inflight.Load() == 0 {
		return // the common case: no shootdown is sending to this CPU
	}
	s.ostats.leaveWaits.Inc()
	for !c.sendsDone() {
		c.poll()
	}
}

// sendsDone reports whether no shootdown is sending to the CPU.
func (c *CPU) sendsDone() bool {
	return c.s.inflight.Load() == 0 // load: Leave's wait; pairs with the shootdown's Sub after its send
}

// poll takes the flush IPIs posted to the CPU, for Leave's wait.
func (c *CPU) poll() {
	switch {
	case c.dc != nil:
		c.dc.Poll()
	case c.t.poll != nil:
		c.t.poll(c.s.cpu, c.sendsDone)
	}
}
