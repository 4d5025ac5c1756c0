package ctdefer

import (
	"fmt"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Lazy rescheduling: asking a CPU to reschedule without interrupting it, the
// userspace form of the kernel's PREEMPT_LAZY (upstream since 6.13; proposed
// as PREEMPT_AUTO in the LKML thread "PREEMPT_AUTO: support lazy
// rescheduling", February 2024). The owner has a scheduler of its own
// (goroutine-free tasks, coroutines, a packet pipeline); another goroutine
// wants it to run that scheduler soon: a task of higher priority arrived, a
// time slice ended.
//
// Two levels, as TIF_NEED_RESCHED_LAZY and TIF_NEED_RESCHED:
//
//   - Lazy: no interruption. Honoured when the CPU next returns to user
//     mode (the owner checks NeedReschedBeforeUser before UserEnter, the
//     kernel's exit_to_user_mode_loop), or promoted to full at its next
//     Tick (sched_tick), whichever comes first. A CPU in a long user-mode
//     stretch is therefore interrupted at most one tick later.
//   - Full: honoured at the next preemption point, where the owner asks
//     NeedResched (the kernel's cond_resched / preempt_enable check). A
//     parked CPU is woken; a running one is not disturbed beyond its own
//     poll, which reads the flag: the kernel's "skip the IPI if the target
//     is polling" (set_nr_and_not_polling), because here every running
//     owner polls.
//
// The request word (slot.resched, on its own cache line):
//
//	 31                                  2       1       0
//	+-------------------------------------+-------+-------+
//	|              zero                   | full  | lazy  |
//	+-------------------------------------+-------+-------+
//
// Protocol:
//
//  1. Request (any goroutine, Domain.Resched): one atomic Or of the level's
//     bit, even if it is already set (see race (b)).
//  2. Full only: if the Or found the full bit clear, load slot.park; if the
//     CPU is parked (or borrowed), wake it (park.go, step 5).
//  3. Preemption point (owner): NeedResched loads the word; full bit set.
//  4. Return to user (owner): NeedReschedBeforeUser loads the word; any
//     bit set.
//  5. Tick (owner): if only the lazy bit is set, Or the full bit. The lazy
//     bit stays, as in the kernel; both are cleared in step 6.
//  6. Reschedule (owner): ClearResched swaps the word to 0 and returns the
//     level it held; the owner then picks its next task. Clearing before
//     the pick, as __schedule clears TIF_NEED_RESCHED before picking,
//     means a request arriving during the pick stays pending for the next
//     preemption point instead of being lost.
//  7. Idle (owner): park.go's step 1 stores "parked", and the loop of step
//     2 returns if the full bit is set, as it does for a posted IPI.
//
// Where two CPUs race:
//
//   - (a) Full request against the owner parking (steps 2 and 7): the
//     Dekker pattern of park.go. Go atomics are sequentially consistent, so
//     the sender's Or and load and the owner's store and load have one total
//     order. If the owner's load misses the full bit, it came before the Or,
//     so the owner's store came before the sender's load, which sees the CPU
//     parked and wakes it; the futex compares before sleeping, so the
//     wake-up is not lost. If the sender's load sees parkRunning, the owner
//     stored "parked" after it, and then its load sees the bit and it does
//     not sleep. A second full request that finds the bit already set skips
//     step 2: the first requester's load is ordered after the bit was set,
//     so one of the two cases above already covers the owner.
//   - (b) Request against ClearResched. Both are read-modify-writes of the
//     word: the request is either taken by this clear (merged with what was
//     there) or left for the next. The Or is done even when the bit is
//     already set, so that a merged request still publishes what its sender
//     wrote before Resched: the owner's Swap reads the Or's write, which
//     orders the sender's earlier writes before the owner's pick (a load
//     that saw the bit set would decide correctly and publish nothing; the
//     same reason as ctseq's "always CAS when accepting").
//   - (c) Lazy request against the return-to-user check: if the Or comes
//     after the check's load, the CPU enters user mode with the request
//     pending; its next Tick promotes it, its next preemption point honours
//     it. That is the kernel's behaviour and the bound of lazy requests: one
//     tick.
//   - (d) Tick against requests: Tick's Or and the senders' Ors commute;
//     Tick and ClearResched are both the owner's.
//
// Why a separate word and not bits in the context-tracking word:
//
//   - What the shared word buys is atomicity of the state and the bits:
//     deferral must decide "defer or IPI" on the state at the very instant it
//     sets the bit (the two-atomic race of the LKML thread "context-tracking:
//     Introduce work deferral infrastructure"). A resched request has no such
//     decision on the context-tracking state: both levels are set in every
//     state. Its one decision, whether to wake, depends on the park word, and
//     the kernel's single-word fetch_or (NEED_RESCHED beside POLLING_NRFLAG)
//     is replaced by race (a)'s Dekker pair, which park.go already relies on
//     for IPIs.
//   - Different consumers: work bits are consumed by KernelEnter's add,
//     which returns exactly the bits accepted while in user mode, and the
//     owner can subtract them without a CAS because no sender sets a bit
//     outside user mode. Resched bits are set in every state and consumed
//     by the owner's scheduling decision, at other points. In the word,
//     KernelEnter would have to mask them and the subtract-without-CAS
//     argument would no longer hold for the whole word.
//   - Sender cost and contention with deferral: a request in the word would
//     be a CAS loop on the hottest line of the slot, failing whenever the
//     owner makes a transition (UserEnter/KernelEnter per hot-loop
//     iteration) and making concurrent deferral CASes fail and retry. Here
//     it is one Or that never fails, on a line the owner only reads until
//     it clears.
//   - The owner's poll: NeedResched reads a line written only by requests,
//     so it stays in the owner's cache (shared) between them; on the word
//     line every deferral would cost the poll a miss.
//   - No room: the word's 64 bits are taken (45 sequence, 16 work, 3
//     state), and the layout's compile-time checks pin that.
//
// Lazy requests do not wake a parked CPU: they wait for its next wake-up
// (then its next return to user or Tick). The kernel instead turns a lazy
// request for the idle task into a full one; a sender wanting that sends
// ReschedFull to a CPU whose State is ctseq.Idle.
//
// Costs: a request is one Or (plus, for full, one load of the park line);
// NeedResched and NeedReschedBeforeUser are one load; Tick is one load
// unless it promotes; ClearResched is one load when nothing is pending.
// Requests never allocate.

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
// at every preemption point. See the protocol at the top of resched.go.
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

// full reports whether a full request is pending (steps 3 and 7).
func (r *reschedWord) full() bool {
	return r.v.Load()&reschedFullBit != 0 // load: pairs with the requester's Or (step 1)
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
// Errors: [ErrBadCPU], [ErrClosed]. It panics if level is neither
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
	// RMW (step 1): set the level's bit, even if set, to publish the
	// caller's writes (race (b)). Pairs with the owner's loads in
	// NeedResched, NeedReschedBeforeUser, Tick, Idle and its Swap in
	// ClearResched.
	old := s.resched.v.Or(uint32(level))
	if level == ReschedFull && old&reschedFullBit == 0 {
		s.wakeIfParked() // step 2: load of park, pairs with the owner's store (race (a))
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
	return c.s.resched.v.Load() != 0 // load: pairs with the requester's Or (step 1)
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
	v := r.v.Load() // load: pairs with the requester's Or (step 1)
	if v != reschedLazyBit {
		return v&reschedFullBit != 0
	}
	if c.debug {
		c.checkOwner("CPU.Tick")
	}
	r.v.Or(reschedFullBit) // RMW (step 5): commutes with requesters' Ors (race (d))
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
	// swap (step 6): take every request; reads each requester's Or, so what
	// requesters wrote before Resched happens before the owner's pick.
	old := r.v.Swap(0)
	if old&reschedFullBit != 0 {
		return ReschedFull
	}
	return ReschedLevel(old)
}
