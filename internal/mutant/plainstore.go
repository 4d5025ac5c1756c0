package mutant

import "github.com/ctdefer/ctdefer/internal/atomicx"

// PlainStore is package lazytlb's lazy policy for one CPU and one address
// space, with the switch back written as Rik van Riel's 2016 patch wrote
// it ("x86,mm,sched: make lazy TLB mode even lazier", LKML, August 2016):
//
//	oldstate = this_cpu_read(cpu_tlbstate.state);
//	this_cpu_write(cpu_tlbstate.state, TLBSTATE_OK);
//	if (oldstate == TLBSTATE_FLUSH) local flush
//
// What goes wrong: a shootdown's CAS(Lazy -> Flush) that lands between the
// read and the store succeeds (the word is still Lazy), so the shootdown
// sends no IPI and returns, counting on the switch back to flush; the store
// then overwrites Flush, the read saw Lazy, and the CPU uses the address
// space at a stale generation (breaks: no stale translation). See the
// walk-through in docs/design/lazytlb.md, "The lost flush".
//
// The zero value is a CPU active (OK) on an address space at generation 0,
// flushed to it.
type PlainStore struct {
	lazyCPU
}

// SwitchBack returns from lazy mode with a read and a plain store: the
// bug. It reports whether it flushed. Owner only.
func (m *PlainStore) SwitchBack() bool {
	old := m.state.Load() // load: this_cpu_read(state)
	m.state.Store(lazyOK) // store: this_cpu_write(state, OK): overwrites a Flush that landed since the load: the bug
	return m.afterSwitch(old)
}

// SwapSwitch is the control: the same copy with lazytlb's switch back (one
// atomic swap). A checker that fails it is wrong; one that passes it and
// fails PlainStore caught the plain store.
//
// The zero value is as PlainStore's.
type SwapSwitch struct {
	lazyCPU
}

// SwitchBack returns from lazy mode with one swap, as lazytlb does, and
// reports whether it flushed. Owner only.
func (m *SwapSwitch) SwitchBack() bool {
	old := m.state.Swap(lazyOK) // swap: a mark lands before (returned) or after (its CAS fails); pairs with Shootdown's CAS
	return m.afterSwitch(old)
}

// The state values, as package lazytlb's (OK, Lazy, Flush).
const (
	lazyOK    = 1
	lazyLazy  = 2
	lazyFlush = 3
)

// lazyCPU is the common copy of lazytlb's enter lazy, switch back (after
// the swap), IPI handler, shootdown add and per-CPU decision
// (docs/design/lazytlb.md, Protocol): the same atomic operations in the same order, with
// the IPI left to the caller. Fields are owner-only unless atomic.
type lazyCPU struct {
	state     atomicx.Uint64 // OK, Lazy or Flush; 0 (the zero value) reads as OK
	gen       atomicx.Uint64 // the address space's generation
	flushed   uint64         // owner only: the generation flushed to
	marksSeen int            // owner only: Flush states the switch back saw
}

// EnterLazy stores Lazy. Owner only.
func (m *lazyCPU) EnterLazy() {
	m.state.Store(lazyLazy) // store: from OK only the owner writes; pairs with Shootdown's load
}

// afterSwitch flushes if the switch back found Flush and the CPU is behind.
func (m *lazyCPU) afterSwitch(old uint64) bool {
	if old != lazyFlush {
		return false
	}
	m.marksSeen++
	return m.flushIfBehind()
}

// HandleIPI is the flush IPI's handler. Owner only.
func (m *lazyCPU) HandleIPI() { m.flushIfBehind() }

func (m *lazyCPU) flushIfBehind() bool {
	g := m.gen.Load() // load: after the switch's RMW; pairs with Shootdown's Add
	if m.flushed >= g {
		return false
	}
	m.flushed = g
	return true
}

// Flushed returns the generation the CPU flushed to. Owner only.
func (m *lazyCPU) Flushed() uint64 { return m.flushed }

// MarksSeen returns how many Flush states the switch backs saw. Owner only.
func (m *lazyCPU) MarksSeen() int { return m.marksSeen }

// Shootdown bumps the generation and then, by the CPU's state: OK ->
// ipi() (which must run HandleIPI on the owner and return after it); Lazy
// -> CAS to Flush (no IPI); Flush -> nothing. It returns the new generation
// and whether it marked the CPU. Any goroutine.
func (m *lazyCPU) Shootdown(ipi func()) (gen uint64, marked bool) {
	gen = m.gen.Add(1)   // RMW: the new generation; pairs with flushIfBehind's load
	st := m.state.Load() // load: decide; pairs with the owner's store/swap
	for {
		switch st {
		case lazyFlush:
			return gen, false
		case lazyLazy:
			if m.state.CompareAndSwap(lazyLazy, lazyFlush) { // CAS: mark; pairs with the owner's switch back
				return gen, true
			}
			st = m.state.Load() // load: the owner switched back: re-decide
			continue
		}
		ipi()
		return gen, false
	}
}

// LeaveNoWait is package lazytlb's eager shootdown of one CPU and that
// CPU's Leave as they were before the inflight announcement (Leave leaves no send behind,
// lazytlb.md): the
// shootdown reads the set once and sends, and Leave only clears the CPU's
// bit. A shootdown that read the bit before the owner cleared it then sends
// an IPI to a CPU whose owner has left and stopped polling (released it),
// and waits for it forever: the explorer reports a deadlock. LeaveWait is
// the control with the inflight announcement and Leave's wait, as lazytlb does now.
//
// The zero value is a CPU out of the set; Join puts it in.
type LeaveNoWait struct {
	leaveCPU
}

// Leave clears the CPU's bit and returns: the bug. Owner only.
func (m *LeaveNoWait) Leave(func(done func() bool)) {
	m.member.Store(0) // store: leave the set; pairs with Shootdown's load
}

// Shootdown bumps the generation and sends ipi (which must run HandleIPI
// on the owner and return after it) if the CPU is in the set: read once,
// no re-check. It returns the new generation. Any goroutine.
func (m *LeaveNoWait) Shootdown(ipi func()) uint64 {
	gen := m.gen.Add(1)       // RMW: the new generation; pairs with the join's load
	if m.member.Load() != 0 { // load: the set, read once: the owner may leave and stop polling after it
		ipi()
	}
	return gen
}

// LeaveWait is the control: lazytlb's Leave (clear the bit, then wait for
// the sends in flight, polling) and the send's announce, re-check, send
// (Leave leaves no send behind).
//
// The zero value is as LeaveNoWait's.
type LeaveWait struct {
	leaveCPU
	inflight atomicx.Uint64 // shootdowns between announcing and ending a send
}

// Leave clears the CPU's bit, then polls until no send is in flight: poll
// must take a pending IPI (HandleIPI) and may block until one is posted or
// done reports true. Owner only.
func (m *LeaveWait) Leave(poll func(done func() bool)) {
	m.member.Store(0) // store: leave the set, before the load of inflight (Dekker); pairs with Shootdown's re-check
	done := func() bool { return m.inflight.Load() == 0 }
	for !done() { // load: pairs with Shootdown's Add and Sub
		poll(done)
	}
}

// Shootdown bumps the generation, then announces the send, re-checks the
// set and sends only if the CPU is still in it. Any goroutine.
func (m *LeaveWait) Shootdown(ipi func()) uint64 {
	gen := m.gen.Add(1)       // RMW: the new generation; pairs with the join's load
	if m.member.Load() == 0 { // load: the set
		return gen
	}
	m.inflight.Add(1)         // RMW: announce, before the re-check (Dekker); pairs with Leave's load
	if m.member.Load() != 0 { // load: re-check; pairs with Leave's store
		ipi()
	}
	m.inflight.Sub(1) // RMW: the send is over; pairs with Leave's wait
	return gen
}

// leaveCPU is the common part: the CPU's bit in the set, the generation and
// the CPU's flushed generation.
type leaveCPU struct {
	member  atomicx.Uint64 // 1 while the CPU is in the set
	gen     atomicx.Uint64 // the address space's generation
	flushed uint64         // owner only
}

// Join puts the CPU in the set and flushes if behind. Owner only.
func (m *leaveCPU) Join() {
	m.member.Store(1) // store: join, before the gen load (Dekker); pairs with Shootdown's load
	g := m.gen.Load() // load: pairs with Shootdown's Add
	m.flushed = max(m.flushed, g)
}

// HandleIPI is the flush IPI's handler: flush if in the set. Owner only.
func (m *leaveCPU) HandleIPI() {
	if m.member.Load() != 0 { // load: own bit (only the owner writes it)
		m.flushed = max(m.flushed, m.gen.Load()) // load: pairs with Shootdown's Add
	}
}

// Flushed returns the generation the CPU flushed to. Owner only.
func (m *leaveCPU) Flushed() uint64 { return m.flushed }
