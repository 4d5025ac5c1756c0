// Package lazytlbsim makes lazytlb TLBs whose flushes are delivered by a
// function instead of a ctdefer.Domain (the interleaving explorer's mailbox,
// and benchmarks in which one goroutine plays every CPU), and TLBs that
// follow a baseline policy instead of the lazy design, for the comparisons
// (the lazytlb example, benchmarks, the explorer). Package lazytlb
// fills in the hooks at init (function values, since this package cannot
// import it without a cycle), so a caller must import lazytlb too, which it
// does to name the types it asserts. Only this module can import it.
package lazytlbsim

import (
	"context"
	"fmt"

	"github.com/ctdefer/ctdefer"
)

// SendFunc delivers a TLB's flush to cpu. It must make cpu's owner call
// HandleIPI(tlb, cpu) and, honouring ctx, return once that call has
// returned, saying ctdefer.IPI. The one exception is kernel (a
// lazytlb.TLB.ShootdownKernel): if the CPU is in user mode and will run
// the flush at its next entry into kernel mode, before any kernel-mode code,
// SendFunc may arrange that and return ctdefer.Deferred at once (as
// ctdefer.Domain.Send does). Shootdown counts every call in Result.IPIs,
// failed ones included, except those that return ctdefer.Deferred without
// error (Result.Deferred).
type SendFunc func(ctx context.Context, cpu int, kernel bool) (ctdefer.Delivery, error)

// PollFunc is the owner's poll point while CPU.Leave waits for the
// shootdowns still sending to cpu: Leave calls it on cpu's owner, in a loop.
// It must run the flush if one has been sent to cpu (HandleIPI, as the
// SendFunc's delivery does); it may block until one is sent or done reports
// true, and must then return. A nil PollFunc makes Leave spin on the
// in-flight count alone, which is right only for a SendFunc that runs
// HandleIPI without the owner's help (one goroutine playing every CPU, so
// that no send is in flight during Leave).
type PollFunc func(cpu int, done func() bool)

// New creates a TLB over the given CPU numbers whose flushes go through
// send, and Leave's wait through poll. opts is a lazytlb.Options; the TLB is
// a *lazytlb.TLB (a typed nil with an error). Errors: *ctdefer.ArgError (an
// empty, out-of-range or duplicate CPU list, wrapping ctdefer.ErrInvalid; a
// nil send; Options as lazytlb.New checks them).
var New func(cpus []int, send SendFunc, poll PollFunc, opts any) (tlb any, err error)

// Owner returns the owner handle (a *lazytlb.CPU) of cpu in a TLB made by
// New: call it once per CPU, on the goroutine that plays it; a second call
// for the same CPU panics. Errors: *ctdefer.ArgError (a CPU not in the
// TLB, wrapping ctdefer.ErrInvalid; a TLB made by lazytlb.New, whose owners
// use TLB.Attach).
var Owner func(tlb any, cpu int) (owner any, err error)

// HandleIPI is tlb's flush handler: it flushes the address space loaded on
// cpu if the CPU is behind its generation. It must run on cpu's owner. A cpu
// not in the TLB panics.
var HandleIPI func(tlb any, cpu int)

// Flushed returns the generation cpu's cached translations of mm (a
// *lazytlb.MM) were last flushed to: one atomic load. A cpu not in mm's
// TLB panics.
var Flushed func(mm any, cpu int) uint64

// Policy is what a shootdown does with the CPUs of an address space: the
// lazy design package lazytlb implements, or one of the two baselines it is
// measured against. Select one with WithPolicy.
type Policy uint8

// The policies, selectable side by side (one per TLB).
const (
	// PolicyLazy: IPI the CPUs using the address space (OK); mark the lazy
	// ones Flush with one CAS and no IPI; a lazy CPU switching back flushes
	// only if it was marked and is behind the generation. Rik van Riel's
	// 2016 design ("make lazy TLB mode even lazier") with today's x86
	// generations. Every lazytlb.TLB follows it unless WithPolicy says
	// otherwise.
	PolicyLazy Policy = iota
	// PolicyEager: IPI every CPU of the set, lazy or not: the baseline
	// before lazy TLB shootdowns.
	PolicyEager
	// PolicyFlushOnSwitch: IPI OK CPUs, skip lazy ones without marking
	// them (lazytlb.Result.SkippedLazy); every switch back flushes
	// unconditionally (a CR3 reload without ASIDs).
	PolicyFlushOnSwitch
)

// String returns "lazy", "eager" or "flush-on-switch".
func (p Policy) String() string {
	switch p {
	case PolicyLazy:
		return "lazy"
	case PolicyEager:
		return "eager"
	case PolicyFlushOnSwitch:
		return "flush-on-switch"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// WithPolicy returns opts, a lazytlb.Options, set so that the TLB made
// with it (lazytlb.New or New) follows p. It panics if p is not one of the
// Policy constants.
var WithPolicy func(opts any, p Policy) any
