package ctdefer

import (
	"unsafe"

	"go.uber.org/atomic"
	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// cacheLine is the size of the padding between the groups of a slot:
// x/sys/cpu's CacheLinePad is 64 bytes on amd64 and 386, 128 on arm64 and
// ppc64 (where adjacent-line prefetch makes 64 too little). On wasm it is
// empty (no shared-memory threads): 64 keeps the layout arithmetic valid.
const cacheLine = max(unsafe.Sizeof(cpu.CacheLinePad{}), 64)

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
//	coldLine      set at Claim/Release, read-mostly
//
// Every group starts with its 64-bit atomics and is padded to a multiple of
// the line size, so they stay 8-byte aligned on 32-bit platforms (the
// slots' slice is allocated 8-byte aligned, and each group's offset is a
// multiple of the line). slot_internal_test.go checks both properties.
type slot struct {
	wordLine
	_ [(cacheLine - unsafe.Sizeof(wordLine{})%cacheLine) % cacheLine]byte
	mboxLine
	_ [(cacheLine - unsafe.Sizeof(mboxLine{})%cacheLine) % cacheLine]byte
	reschedLine
	_ [(cacheLine - unsafe.Sizeof(reschedLine{})%cacheLine) % cacheLine]byte
	parkLine
	_ [(cacheLine - unsafe.Sizeof(parkLine{})%cacheLine) % cacheLine]byte
	progressLine
	_      [(cacheLine - unsafe.Sizeof(progressLine{})%cacheLine) % cacheLine]byte
	ostats ownerStats
	_      [(cacheLine - unsafe.Sizeof(ownerStats{})%cacheLine) % cacheLine]byte
	sstats senderStats
	_      [(cacheLine - unsafe.Sizeof(senderStats{})%cacheLine) % cacheLine]byte
	coldLine
	_ [(cacheLine - unsafe.Sizeof(coldLine{})%cacheLine) % cacheLine]byte
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
	ipiPostedAt atomic.Int64
}

type parkLine struct {
	// park is the parking state; see park.go.
	park atomicx.Uint64
	// wake is the futex a parked owner sleeps on; wakers bump it before
	// waking (see park.go).
	wake atomicx.Futex
}

type progressLine struct {
	// doneSeq is the sequence of the last kernel entry whose deferred work
	// has completely run (store by the owner after the drain; load by
	// DeferWait, see defer.go).
	doneSeq atomic.Uint64
	// ipiDone is the mailbox generation whose IPIs have completely run.
	ipiDone atomic.Uint64
	// danger holds, in debug mode, the bits claimed by the current kernel
	// entry whose handlers have not yet run (the danger zone).
	danger atomic.Uint32
}

type coldLine struct {
	ownerTid   atomic.Int64  // 64-bit first; the owner thread's tid, 0 if unclaimed
	ownerStart atomic.Uint64 // the owner thread's start time (owner.go), 0 if unknown
	claimEpoch atomic.Uint64 // bumped by every Claim (under the Domain's mu)
	lostEpoch  atomic.Uint64 // the claimEpoch whose *CPU handle was collected (owner.go)
	cpu        int
	claimed    atomic.Bool
	policy     atomic.Uint32 // policyTracked, policyFlushOnEntry, policyAlwaysIPI
	table      ctseq.Table
}
