package lazytlb

import (
	"math/bits"

	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
)

// Rearm turns a marked CPU (Flush) back to Lazy without passing through OK,
// dropping the mark without flushing, and reports whether it did. For the
// shootdown benchmarks only, whose flush is a no-op: every shootdown then
// finds the CPU Lazy or Flush, never OK, and sends no IPI. Owner only.
func (c *CPU) Rearm() bool {
	// CAS: Flush -> Lazy, a transition the protocol does not have (only
	// a swap consumes a Flush); pairs with the shootdowns' load and CAS.
	return c.s.state.v.CompareAndSwap(uint64(Flush), uint64(Lazy))
}

// SendFunc is lazytlbsim's: a TLB's flush delivery without a Domain.
type SendFunc = lazytlbsim.SendFunc

// NewWithSender is lazytlbsim.New, typed, without a poll point: for tests
// whose sender runs the flush handler itself.
func NewWithSender(cpus []int, send SendFunc, opts Options) (*TLB, error) {
	return newWithSender(cpus, send, nil, opts)
}

// CPU is lazytlbsim.Owner: the owner handle of cpu on a TLB made by
// NewWithSender.
func (t *TLB) CPU(cpu int) (*CPU, error) { return t.owner(cpu) }

// HandleIPI is lazytlbsim.HandleIPI: the flush handler, on cpu's owner.
func (t *TLB) HandleIPI(cpu int) { t.handleIPI(cpu) }

// SwitchBack is SwitchTo of the loaded address space: from Lazy, the switch
// back. Owner only.
func (c *CPU) SwitchBack() bool { return c.SwitchTo(c.s.loaded) }

// State returns the CPU's state word now. Owner only.
func (c *CPU) State() State { return c.s.state.load() }

// MM returns the address space loaded on the CPU, or nil. Owner only.
func (c *CPU) MM() *MM { return c.s.loaded }

// Name returns the name given to NewMM.
func (mm *MM) Name() string { return mm.name }

// Gen returns the number of shootdowns begun on mm.
func (mm *MM) Gen() uint64 { return mm.gen.Load() } // load: observation only

// CPUs returns the CPUs that have mm loaded now (OK, Lazy or Flush).
func (mm *MM) CPUs() []int {
	var cpus []int
	for w := range mm.cpus {
		m := mm.cpus[w].Load() // load: observation only
		for m != 0 {
			i := w*64 + bits.TrailingZeros64(m)
			m &= m - 1
			cpus = append(cpus, mm.t.slots[i].cpu)
		}
	}
	return cpus
}

// Flushed returns the generation cpu's cached translations of mm were last
// flushed to. A CPU not in the TLB panics.
func (mm *MM) Flushed(cpu int) uint64 { return mm.flushedTo(cpu) }

var stateNames = [...]string{"off", "ok", "lazy", "flush"}

// String names the state in test messages.
func (s State) String() string { return stateNames[s] }

// Policy is lazytlbsim's: the lazy design or a baseline, for the tests
// that run them side by side.
type Policy = lazytlbsim.Policy

// The policies.
const (
	PolicyLazy          = lazytlbsim.PolicyLazy
	PolicyEager         = lazytlbsim.PolicyEager
	PolicyFlushOnSwitch = lazytlbsim.PolicyFlushOnSwitch
)

// WithPolicy is lazytlbsim.WithPolicy, typed: opts set to follow p.
func WithPolicy(p Policy, opts Options) Options {
	return lazytlbsim.WithPolicy(opts, p).(Options)
}

// State is a CPU's lazy-TLB state (tlbState), and its values, for the
// tests.
type State = tlbState

// The states of a CPU.
const (
	Off   = stOff
	OK    = stOK
	Lazy  = stLazy
	Flush = stFlush
)

// State returns cpu's lazy-TLB state now, Off for a CPU not in the TLB. Any
// goroutine may call it; by the time it returns, a shootdown may have
// turned Lazy into Flush and the owner may have moved on.
func (t *TLB) State(cpu int) State {
	if s := t.slotOf(cpu); s != nil {
		return s.state.load()
	}
	return stOff
}
