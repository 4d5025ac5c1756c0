package ctdefer

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Lazy rescheduling: Domain.Resched asks a CPU to reschedule without
// interrupting it (the kernel's PREEMPT_LAZY). There are two levels, lazy
// and full, held as two bits of a request word on the slot's own line:
//
//	bit 1: full    bit 0: lazy
//
// Requesters Or a bit; a full request also wakes a parked CPU. The owner
// loads the word at NeedResched and NeedReschedBeforeUser, promotes lazy to
// full at Tick, and swaps it to 0 at ClearResched.
//
// The protocol and its invariants (a full request wakes a parked CPU, no
// lost request, lazy requests are honoured within one tick, payload before
// the pick), and why the bits are not in the context-tracking word:
// docs/design/resched.md.

// ReschedLevel is the urgency of a reschedule request. Its values are the
// bits of the request word.
type ReschedLevel uint8

// The levels.
const (
	// ReschedNone: no request (returned by CPU.ClearResched).
	ReschedNone ReschedLevel = 0
	// ReschedLazy: reschedule at the next return to user mode, or at the
	// next tick (promoted to full), without interrupting the CPU.
	ReschedLazy ReschedLevel = 1 << 0
	// ReschedFull: reschedule at the next preemption point; a parked CPU is
	// woken.
	ReschedFull ReschedLevel = 1 << 1
)

var reschedNames = [...]string{"none", "lazy", "full"}

func (l ReschedLevel) String() string {
	if int(l) < len(reschedNames) {
		return reschedNames[l]
	}
	return fmt.Sprintf("ReschedLevel(%d)", uint8(l))
}

// reschedLine is the slot's request word, on a line of its own: written by
// requesters and by the owner when it promotes or clears, read by the owner
// at every preemption point. See docs/design/resched.md.
type reschedLine struct {
	resched reschedWord
}

// reschedWord holds the bits of the pending ReschedLevels (full, lazy).
type reschedWord struct {
	v atomicx.Uint32
}

const (
	reschedLazyBit = uint32(ReschedLazy)
	reschedFullBit = uint32(ReschedFull)
)

// full reports whether a full request is pending (NeedResched, and the park loop).
func (r *reschedWord) full() bool {
	return r.v.Load()&reschedFullBit != 0 // load: pairs with the requester's Or (a full request wakes a parked CPU)
}

// Resched asks cpu to reschedule with the given urgency and returns at once:
// [ReschedLazy] is honoured at the CPU's next return to user mode or promoted
// at its next [CPU.Tick], without disturbing it; [ReschedFull] at its next
// preemption point ([CPU.NeedResched]), waking it if it is parked in
// [CPU.Idle].
// Requests pending at the same time merge; what the caller wrote before
// Resched is visible to the owner once it sees the request. A request to a
// CPU nobody has claimed waits for its next owner.
//
// Errors: an *ArgError (errors.Is [ErrInvalid]) for a CPU not in the
// domain, [ErrClosed]. It panics if level is neither
// ReschedLazy nor ReschedFull. Resched never allocates when it succeeds.
func (d *Domain) Resched(cpu int, level ReschedLevel) error {
	if level != ReschedLazy && level != ReschedFull {
		panic(fmt.Sprintf("ctdefer: Domain.Resched(%d, %v): level must be ReschedLazy or ReschedFull", cpu, level))
	}
	if d.closed.Load() { // load: Close's CAS
		return fmt.Errorf("ctdefer: Resched(%d, %v): %w", cpu, level, ErrClosed)
	}
	s, err := d.slotOf("Resched", cpu)
	if err != nil {
		return err
	}
	// RMW: set the level's bit, even if set, to publish the caller's
	// writes (payload before the pick). Pairs with the owner's loads in
	// NeedResched, NeedReschedBeforeUser, Tick, Idle and its Swap in
	// ClearResched.
	old := s.resched.v.Or(uint32(level))
	if level == ReschedFull && old&reschedFullBit == 0 {
		s.wakeIfParked() // load of park, pairs with the owner's store (a full request wakes a parked CPU)
	}
	return nil
}

// NeedResched reports whether a full reschedule request is pending: call it
// at the owner's preemption points, in either mode, and reschedule (starting
// with ClearResched) when it is true. A lazy request makes it true only once
// Tick has promoted it. One atomic load. Owner only.
func (c *CPU) NeedResched() bool {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.NeedResched", c.cpu})
	}
	return c.s.resched.full()
}

// NeedReschedBeforeUser reports whether a request of either level is
// pending: call it just before UserEnter, and reschedule instead of
// returning to the hot loop when it is true. One atomic load. Owner only.
func (c *CPU) NeedReschedBeforeUser() bool {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.NeedReschedBeforeUser", c.cpu})
	}
	return c.s.resched.v.Load() != 0 // load: pairs with the requester's Or (lazy requests are honoured within one tick)
}

// Tick is the owner's scheduler tick: call it from the owner's periodic
// timer check, in either mode. A pending lazy request is promoted to full,
// so a CPU that stays in user mode honours it within one tick. It reports
// whether a full request is now pending (NeedResched). One atomic load
// unless it promotes. Owner only.
func (c *CPU) Tick() bool {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.Tick", c.cpu})
	}
	r := &c.s.resched
	v := r.v.Load() // load: pairs with the requester's Or
	if v != reschedLazyBit {
		return v&reschedFullBit != 0
	}
	if c.debug {
		c.checkOwner("CPU.Tick")
	}
	r.v.Or(reschedFullBit) // RMW: promote; commutes with requesters' Ors (lazy requests are honoured within one tick)
	return true
}

// ClearResched clears every pending request and returns the level that was
// pending (ReschedFull if a full request was, even alongside a lazy one;
// ReschedNone if none). Call it when the owner reschedules, before it picks
// what to run next: a request made after the clear stays pending. One load
// when nothing is pending. Owner only.
func (c *CPU) ClearResched() ReschedLevel {
	if c.checks&checkReleased != 0 {
		panic(usedAfterRelease{"CPU.ClearResched", c.cpu})
	}
	r := &c.s.resched
	if r.v.Load() == 0 { // load: nothing to clear; a later request stays pending
		return ReschedNone
	}
	if c.debug {
		c.checkOwner("CPU.ClearResched")
	}
	// swap: take every request (no lost request); reads each requester's Or, so what
	// requesters wrote before Resched happens before the owner's pick.
	old := r.v.Swap(0)
	if old&reschedFullBit != 0 {
		return ReschedFull
	}
	return ReschedLevel(old)
}
