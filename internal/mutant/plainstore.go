package mutant

import "github.com/ctdefer/ctdefer/internal/atomicx"

// PlainStore is package lazytlb's lazy policy for one CPU and one address
// space, with the switch back written as Rik van Riel's 2016 patch wrote
// it (seed 004):
//
//	oldstate = this_cpu_read(cpu_tlbstate.state);
//	this_cpu_write(cpu_tlbstate.state, TLBSTATE_OK);
//	if (oldstate == TLBSTATE_FLUSH) local flush
//
// What goes wrong: a shootdown's CAS(Lazy -> Flush) that lands between the
// read and the store succeeds (the word is still Lazy), so the shootdown
// sends no IPI and returns, counting on the switch back to flush; the store
// then overwrites Flush, the read saw Lazy, and the CPU uses the address
// space at a stale generation (P5). See the walk-through in
// lazytlb/state.go.
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

// lazyCPU is the common copy of lazytlb's steps 2, 3 (after the switch), 5,
// 6 and 7 (state.go): the same atomic operations in the same order, with
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
