package lazytlb

import (
	"context"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// Options configures a TLB. The zero value is the documented default of
// every field except Flush, which is required.
type Options struct {
	// Flush drops the translations of mm that cpu has cached, bringing
	// them to generation gen at least (the cache re-reads the shared
	// structure on its next use). It runs on cpu's owner: at a switch back,
	// a join, or a poll point that handles the flush IPI. It must not block
	// and must not call the owner methods of package ctdefer or of this
	// package. Required.
	Flush func(cpu int, mm *MM, gen uint64)
	// Name is the name of the flush work registered in the Domain; "" means
	// "lazytlb.flush".
	Name string

	// policy is what a shootdown does with lazy CPUs: the lazy design
	// (the zero value), or a baseline it is measured against, set only
	// through lazytlbsim.WithPolicy.
	policy lazytlbsim.Policy
}

// TLB is the lazy-TLB machinery of a set of CPUs: one state word per CPU,
// the address spaces (NewMM) and their shootdowns. Create it with New; the
// zero TLB is not usable, and a TLB must not be copied.
//
// Methods of TLB may be called from any goroutine. The owner handle of each
// CPU (TLB.Attach) belongs to that CPU's owner goroutine.
type TLB struct {
	_     percpu.NoCopy
	_     atomicx.Align64
	stats flusherStats // 64-bit atomics first
	slots []slot
	cpus  percpu.Index // the CPU numbers, and their positions in slots
	opts  Options
	send  lazytlbsim.SendFunc
	poll  lazytlbsim.PollFunc // Leave's poll point without a Domain; nil with one
	d     *ctdefer.Domain     // nil for a TLB of lazytlbsim.New
}

// slot is one CPU's state, padded to whole cache lines so that no two
// CPUs' words share a line (slot_internal_test.go checks the size).
type slot struct {
	slotData
	_ [(percpu.CacheLine - unsafe.Sizeof(slotData{})%percpu.CacheLine) % percpu.CacheLine]byte
}

type slotData struct {
	// state is the CPU's state word; first, for 64-bit alignment on 32-bit
	// platforms. See docs/design/lazytlb.md.
	state stateWord
	// inflight counts the shootdowns between their announcement and the end
	// of their send to this CPU ; Leave waits for zero
	// (Leave leaves no send behind). Second, 8-aligned like state; on state's line, which a
	// shootdown touching this CPU reads anyway.
	inflight atomicx.Uint64
	// ownerStats are written by the owner only, on slow paths. 64-bit
	// atomics: at offset 16, before any 4-byte field on 32-bit platforms.
	ostats ownerStats
	// handle is the owner handle given out by Attach (or lazytlbsim.Owner),
	// to refuse a second one. Not a word of the protocol: misuse detection
	// only.
	handle atomicx.Pointer[CPU]
	// loaded is the address space loaded on the CPU (OK, Lazy or Flush),
	// nil when Off. Owner only: the IPI handler runs on the owner too.
	loaded *MM
	// lazy is true between EnterLazy and the switch back. Owner only.
	lazy bool
	idx  int // index in TLB.slots
	cpu  int
}

// New creates a TLB over the CPUs of d and registers its flush work in d:
// call it before the first Claim (registration closes then). Shootdowns
// reach active CPUs with d.IPI (a forced, synchronous IPI, handled at the
// CPU's next poll point even in user mode, because the user-mode code uses
// the address space) and kernel-range flushes with d.Send (deferred to the
// next kernel entry of a CPU in user mode without waiting, else an IPI that
// is waited for). Owners take their handles with Attach.
//
// Errors: a *ctdefer.ArgError (wrapping ctdefer.ErrInvalid) for a nil d, a
// nil opts.Flush;
// the Domain's Register errors (an *ctdefer.ArgError after the first Claim
// or beyond 16 kinds, ctdefer.ErrClosed), wrapped.
func New(d *ctdefer.Domain, opts Options) (*TLB, error) {
	if d == nil {
		return nil, &ctdefer.ArgError{Call: "lazytlb.New", Arg: "d", Reason: "nil *ctdefer.Domain"}
	}
	t, err := newTLB("lazytlb.New", d.CPUs(), opts)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "lazytlb.flush"
	}
	w, err := d.Register(name, t.handleIPI)
	if err != nil {
		return nil, fmt.Errorf("lazytlb: New: %w", err)
	}
	t.d = d
	t.send = func(ctx context.Context, cpu int, kernel bool) (ctdefer.Delivery, error) {
		if kernel {
			return d.Send(ctx, cpu, w)
		}
		return ctdefer.IPI, d.IPI(ctx, cpu, w)
	}
	return t, nil
}

// The hooks of package lazytlbsim: a TLB whose flushes go through a
// function, for the interleaving explorer and the simulated-CPU benchmarks.
func init() {
	lazytlbsim.New = func(cpus []int, send lazytlbsim.SendFunc, poll lazytlbsim.PollFunc, opts any) (any, error) {
		return newWithSender(cpus, send, poll, opts.(Options))
	}
	lazytlbsim.Owner = func(t any, cpu int) (any, error) { return t.(*TLB).owner(cpu) }
	lazytlbsim.HandleIPI = func(t any, cpu int) { t.(*TLB).handleIPI(cpu) }
	lazytlbsim.Flushed = func(mm any, cpu int) uint64 { return mm.(*MM).flushedTo(cpu) }
	lazytlbsim.WithPolicy = func(opts any, p lazytlbsim.Policy) any {
		if p > lazytlbsim.PolicyFlushOnSwitch {
			panic(fmt.Sprintf("lazytlbsim: WithPolicy(%d): not one of the Policy constants", p))
		}
		o := opts.(Options)
		o.policy = p
		return o
	}
}

// newWithSender creates a TLB over the given CPU numbers whose flushes are
// delivered by send instead of a ctdefer.Domain; Leave polls through poll.
// Owners take their handles with owner.
func newWithSender(cpus []int, send lazytlbsim.SendFunc, poll lazytlbsim.PollFunc, opts Options) (*TLB, error) {
	const call = "lazytlbsim.New"
	if send == nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "send", Reason: "nil"}
	}
	index, err := percpu.NewIndex(cpus, ctdefer.ErrInvalid, nil)
	if err != nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "cpus", Value: cpus,
			Reason: strings.TrimSuffix(err.Error(), ": "+ctdefer.ErrInvalid.Error())}
	}
	t, err := newTLB(call, index.List(), opts)
	if err != nil {
		return nil, err
	}
	t.send, t.poll = send, poll
	return t, nil
}

// newTLB checks opts and makes the TLB's slots for cpus, a valid list.
func newTLB(call string, cpus []int, opts Options) (*TLB, error) {
	if opts.Flush == nil {
		return nil, &ctdefer.ArgError{Call: call, Arg: "opts.Flush", Reason: "nil"}
	}
	index, err := percpu.NewIndex(cpus, ctdefer.ErrInvalid, nil)
	if err != nil {
		return nil, fmt.Errorf("lazytlb: %s: %w", call, err) // a Domain's CPU list is valid
	}
	t := &TLB{
		slots: make([]slot, index.Len()),
		cpus:  index,
		opts:  opts,
	}
	for i, c := range t.cpus.List() {
		t.slots[i].idx = i
		t.slots[i].cpu = c
	}
	return t, nil
}

// slotOf returns the slot of cpu, or nil.
func (t *TLB) slotOf(cpu int) *slot {
	i := t.cpus.Of(cpu)
	if i < 0 {
		return nil
	}
	return &t.slots[i]
}

// handleIPI is the flush handler: it flushes the address space loaded on cpu
// if the CPU is behind its generation. New registers it in the Domain; a
// lazytlbsim SendFunc must have cpu's owner call it. It must run on cpu's
// owner. An unknown cpu panics.
func (t *TLB) handleIPI(cpu int) {
	s := t.slotOf(cpu)
	if s == nil {
		panic(fmt.Sprintf("lazytlb: TLB.handleIPI: CPU %d not in the TLB %v", cpu, t.cpus.List()))
	}
	if mm := s.loaded; mm != nil && t.flushIfBehind(s, mm) {
		s.ostats.ipiFlushes.Inc()
	}
}

// flushIfBehind is the generation test of join, marked switch back and IPI
// handler (no stale translation): it
// reads the MM's generation and flushes if the CPU's translations are older.
// Owner only.
func (t *TLB) flushIfBehind(s *slot, mm *MM) bool {
	// load: after the RMW that made the CPU visible to shootdowns (the
	// Swap of the switch back, the CAS of the join): pairs with the Add
	// in Shootdown (the join Dekker pattern: no stale translation).
	g := mm.gen.Load()
	f := &mm.flushed[s.idx].gen
	if f.Load() >= g { // owner-written only (see MM.flushed)
		return false
	}
	t.flush(s, mm, g)
	return true
}

// flush runs the callback and records the generation reached. Owner only.
func (t *TLB) flush(s *slot, mm *MM, g uint64) {
	t.opts.Flush(s.cpu, mm, g)
	mm.flushed[s.idx].gen.Store(g) // owner-written; read by the tests' observers
}

// ownerStats are counters written by a CPU's owner on slow paths.
type ownerStats struct {
	joinFlushes   atomicx.Uint64
	switchFlushes atomicx.Uint64
	ipiFlushes    atomicx.Uint64
	marksSeen     atomicx.Uint64
	leaveWaits    atomicx.Uint64
}
