package ctdefer

import (
	"unsafe"
	"weak"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// slot is one CPU's shared state, in groups that each fill whole cache
// lines, so that groups written by different parties never share a line:
//
//	wordLine      written by senders (CAS) and the owner (transitions)
//	mboxLine      written by senders (IPIs), claimed by the owner
//	reschedLine   written by Resched callers, polled and cleared by the owner
//	parkLine      owner (park/unpark), run-on-behalf senders (borrow), wakers
//	progressLine  owner-written, read by synchronous senders waiting
//	ownerStats    owner-written statistics
//	senderStats   sender-written statistics (slow paths only)
//	owork         owner-written per-work counters, IPI latency histogram
//	swork         sender-written per-work counters (slow paths only)
//	coldLine      set at Claim/Release, read-mostly
//
// Every group starts with its 64-bit atomics and is padded to a multiple of
// the line size, so they stay 8-byte aligned on 32-bit platforms (the
// slots' slice is allocated 8-byte aligned, and each group's offset is a
// multiple of the line). slot_internal_test.go checks both properties.
type slot struct {
	wordLine
	_ [(percpu.CacheLine - unsafe.Sizeof(wordLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	mboxLine
	_ [(percpu.CacheLine - unsafe.Sizeof(mboxLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	reschedLine
	_ [(percpu.CacheLine - unsafe.Sizeof(reschedLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	parkLine
	_ [(percpu.CacheLine - unsafe.Sizeof(parkLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	progressLine
	_      [(percpu.CacheLine - unsafe.Sizeof(progressLine{})%percpu.CacheLine) % percpu.CacheLine]byte
	ostats ownerStats
	_      [(percpu.CacheLine - unsafe.Sizeof(ownerStats{})%percpu.CacheLine) % percpu.CacheLine]byte
	sstats senderStats
	_      [(percpu.CacheLine - unsafe.Sizeof(senderStats{})%percpu.CacheLine) % percpu.CacheLine]byte
	owork  ownerWorkStats
	_      [(percpu.CacheLine - unsafe.Sizeof(ownerWorkStats{})%percpu.CacheLine) % percpu.CacheLine]byte
	swork  senderWorkStats
	_      [(percpu.CacheLine - unsafe.Sizeof(senderWorkStats{})%percpu.CacheLine) % percpu.CacheLine]byte
	coldLine
	_ [(percpu.CacheLine - unsafe.Sizeof(coldLine{})%percpu.CacheLine) % percpu.CacheLine]byte
}

type wordLine struct {
	// word is the CPU's context-tracking word. See package ctseq.
	word ctseq.Word
}

type mboxLine struct {
	// mbox is the IPI mailbox. See mailbox.go for the layout and protocol.
	mbox mailbox
	// ipiPostedAt is the time (ns since the domain's epoch) of the oldest
	// post not yet claimed, or 0; for the worst-latency statistic only.
	ipiPostedAt atomicx.Int64
}

type parkLine struct {
	// park is the parking state (delivery.md, Protocol: parking).
	park atomicx.Uint64
	// wake is the futex a parked owner sleeps on; wakers bump it before
	// waking (no lost wake-up, delivery.md).
	wake atomicx.Futex
}

// doneNone is doneSeq's "no recent completion": it has a bit above every
// sequence, so it never equals one, and DeferWait tests for it before it
// compares (SeqReached masks the high bits away).
const doneNone = uint64(1) << 63

// doneReached reports whether done, a value of doneSeq, says that the
// kernel entry seq has completely run.
func doneReached(done, seq uint64) bool {
	return done != doneNone && ctseq.SeqReached(done, seq)
}

type progressLine struct {
	// doneSeq is the sequence of the last kernel entry whose deferred work
	// has completely run and that a waiter needed: stored by the owner
	// after a drain while waiters is not zero, loaded by DeferWait (see
	// defer.go). doneNone when no such entry is recent: the owner retires
	// the value at a UserEnter or Idle that finds no waiter (retireDone),
	// so that a waiter never compares its ticket with a sequence published
	// any number of transitions ago (SeqReached orders sequences only
	// within half the ring, (SeqMask+1)/2 transitions).
	doneSeq atomicx.Uint64
	// ipiDone is the mailbox generation whose IPIs have completely run.
	ipiDone atomicx.Uint64
	// danger holds, in debug mode, the bits claimed by the current kernel
	// entry whose handlers have not yet run (the danger zone).
	danger atomicx.Uint32
	// waiters counts the DeferWait-style callers whose deferred delivery
	// may still be waiting for its drain: each adds 1 before its delivery CAS
	// and subtracts it when its wait ends. The owner publishes doneSeq only
	// while it is not zero, so that an entry with work costs no store when
	// nobody waits (see runEntryWork).
	waiters atomicx.Int32
	// ipiWaiters counts the Send and IPI callers whose delivery may need
	// an IPI and whose wait is not over: with waiters, it tells a
	// hand-back whether a wait is in progress (the log's bound: delivery.md, run or handed back, never both). Apart
	// from waiters so that the owner's drain does not publish for them.
	ipiWaiters atomicx.Int32
	// irq is 1 while the owner is in an interrupt window: a kernel stretch
	// that Poll opened from user mode to handle IPIs, and that returns to
	// user mode at once. A sender that finds the word in Kernel then waits
	// for the window to close rather than post an IPI (see Defer).
	irq atomicx.Uint32
}

type coldLine struct {
	ownerTid   atomicx.Int64                      // 64-bit first; the owner thread's tid, 0 if unclaimed
	ownerStart atomicx.Uint64                     // the owner thread's start time (owner.md, Exited owners), 0 if unknown
	handle     atomicx.Pointer[weak.Pointer[CPU]] // set by Claim: the owner's handle, weakly (owner.md, Exited owners); read while claimed only
	cpu        int
	claimed    atomicx.Bool
	policy     atomicx.Uint32 // policyTracked, policyFlushOnEntry, policyAlwaysIPI
	table      ctseq.Table
}
