package lazytlb

import (
	"strconv"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// The lazy-TLB handshake: how a CPU leaves and re-enters an address space
// while other CPUs shoot it down, and why no flush is lost.
//
// Shared words (all atomicx.Uint64, so the explorer can interleave them):
//
//	slot.state   per CPU: Off, OK, Lazy or Flush (see State)
//	MM.gen       per address space: bumped by every Shootdown
//	MM.cpus      per address space: bitmask of the CPUs that have it
//	             loaded (OK, Lazy or Flush), by slot index
//	slot.inflight per CPU: shootdowns between announcing a send to the
//	             CPU and the end of that send (step 7s)
//
// and, owner-written only, MM.flushed[cpu]: the generation this CPU's
// cached translations of the MM were last flushed to (x86's tlb_gen per
// CPU). No other CPU decides anything on it; it is read by observers only.
//
// The owner of a CPU (lazy policy):
//
//  1. Join (SwitchTo an MM not loaded): state.Store(OK) (from Off only the
//     owner writes), then set the CPU's bit in MM.cpus (CAS loop), then
//     g := MM.gen.Load(); flush if flushed < g.
//  2. Enter lazy (run other work, keeping the MM): state.Store(Lazy). In OK
//     only the owner writes (shootdowns CAS only from Lazy), so a store is
//     enough; this is the model's "go LAZY with a store".
//  3. Switch back: old := state.Swap(OK). If old == Flush, a shootdown
//     marked the CPU while it was lazy: g := MM.gen.Load() and flush if
//     flushed < g. Otherwise (old == Lazy) no shootdown relies on this CPU
//     and nothing is read but its own word.
//  4. Leave (switch away for good): state.Swap(Off), then clear the bit
//     (CAS loop), then wait while inflight.Load() != 0, polling: the owner
//     takes the IPIs of the sends in flight (their handler finds nothing
//     loaded and flushes nothing). Only then may it release the CPU.
//  5. IPI handler (at poll points, any state): g := MM.gen.Load(); flush the
//     loaded MM if flushed < g.
//
// A shootdown of MM (any goroutine):
//
//  6. g := MM.gen.Add(1): the new translations' generation.
//  7. For each CPU whose bit is in MM.cpus.Load():
//     s := state.Load(), then
//     OK    -> send (7s);
//     Flush -> nothing: already marked, the switch back will flush;
//     Off   -> nothing: the CPU left; a later join compares generations;
//     Lazy  -> CAS(Lazy -> Flush): on success no IPI; on failure re-decide
//              on the fresh value (the owner switched back: OK -> IPI).
//     7s. A send: inflight.Add(1); then re-check the CPU's bit in
//     MM.cpus.Load(): clear -> inflight.Sub(1), skip (it left); set -> the
//     IPI (synchronous: returns once step 5 ran on that CPU), then
//     inflight.Sub(1).
//  8. Return: every CPU of the set has flushed to >= g, or will flush
//     before its next use of MM.
//
// Where two CPUs race (all Go atomics are sequentially consistent, so there
// is one total order of the steps below):
//
//   - Switch back (3) against the mark (7, Lazy). Both are read-modify-
//     writes of one word, so one is first. Mark first: the Swap returns
//     Flush and the owner flushes to a generation read after it, hence >= g.
//     Swap first: the CAS expected Lazy, finds OK, fails, and the shootdown
//     re-decides on OK and sends an IPI. Either way the CPU flushes before
//     the shootdown can return or before its next use of MM.
//
//     The lost flush, with the switch back written as the plain
//     read-then-store of Rik van Riel's 2016 patch ("make lazy TLB mode
//     even lazier")
//     (oldstate = this_cpu_read(state); this_cpu_write(state, OK)):
//
//     a. owner:    old := state.Load()                  -> Lazy
//     b. flusher:  g := gen.Add(1); state.Load()        -> Lazy
//     c. flusher:  state.CAS(Lazy, Flush)               -> true: no IPI
//     d. flusher:  Shootdown returns: "CPU will flush at switch back"
//     e. owner:    state.Store(OK)                      overwrites Flush
//     f. owner:    old == Lazy: no flush; it uses MM at flushed < g.
//
//     Step e destroys the only record of step c. The Swap in 3 makes a-e one
//     instruction, so c lands either before it (and is returned) or after it
//     (and fails). internal/mutant.PlainStore is this variant; the explorer
//     (internal/explore, "lazytlb/switch-vs-shootdown") and the stress test
//     in plainstore_test.go show it losing flushes, and the real code not.
//
//   - Join (1) against the shootdown's read of the set (6, 7): the Dekker
//     pattern. The owner writes the bit then reads gen; the shootdown writes
//     gen then reads the bits. In any total order one of them sees the
//     other's write: the shootdown sees the bit (and IPIs or marks, by the
//     state the owner stored before the bit), or the owner reads the new
//     generation and flushes at join.
//
//   - Enter lazy (2) against the shootdown's load in 7 seeing OK. The IPI is
//     sent to a CPU that is now lazy; it is handled at the CPU's next poll
//     point (lazy work polls too) and flushes by generation. Correct; only a
//     lost opportunity to skip.
//
//   - Leave (4) against the mark: a CAS landing before the Swap(Off) is read
//     by it and dropped: a CPU that left does not flush, it compares
//     generations when it rejoins (1), and the marking shootdown's bump
//     precedes that read. A shootdown that loads Off skips the CPU.
//
//   - Leave (4) against a send (7s): the second Dekker pattern. Without
//     step 7s a shootdown could read the set (or OK), the owner leave and
//     release the CPU, and the IPI then wait for a CPU nobody polls, until
//     the timeout. With it, the owner clears the bit then reads inflight;
//     the shootdown adds to inflight then reads the bit. In the total
//     order one of them sees the other's write: the shootdown sees the bit
//     clear and sends nothing (no flush is owed: the CPU's next join reads
//     gen after this re-check, hence after the Add of step 6), or the owner
//     sees inflight > 0 and polls until the send is over, so the IPI is
//     taken (both may happen: a short wait for a send that is skipped).
//     Hence no send is ever pending to a CPU whose owner has left its last
//     address space, and a Leave waits at most one IPI round trip, which it
//     completes itself. The wait also keeps a failed send's verdict sound:
//     while it holds inflight the owner cannot finish Leave and join
//     another MM, so a bit found clear after the failure means "in Leave,
//     nothing owed", and a bit still set means a real failure.
//
//   - Skipping on Flush or Off (7) is a store-then-load pattern too, not a
//     relaxed read: the shootdown adds to gen then loads the state; the
//     owner swaps or stores the state then loads gen (3, 1). If the
//     shootdown loads Flush, the owner's Swap(OK) comes later in the total
//     order, so its gen load sees the Add; if it loads Off, the owner's
//     next Store(OK) (rejoin) comes later, so the join's gen load does.
//     Under acquire/release alone both loads could read the old values and
//     the flush would be lost.
//
//   - Flush (3, 5) against a concurrent bump: the flush reads gen, flushes
//     and records that generation; a shootdown that bumped after the read
//     found the CPU OK (the read follows the Swap or the join) and sends an
//     IPI, which flushes again.
//
// Policies change steps 3 and 7 only:
//
//	PolicyEager          7: send (7s) to every CPU in the set, whatever its
//	                     state; 3: as above (never finds Flush).
//	PolicyFlushOnSwitch  7: IPI OK CPUs, skip Lazy ones without marking;
//	                     3: state.Store(OK), then flush unconditionally.
//	                     A store is enough: no one else writes a Lazy word,
//	                     and the flush reads gen after it (the Dekker
//	                     pattern again, with the state word as the flag).
//	KernelRange          7: send (7s) to every CPU in the set, through
//	                     ctdefer.Domain.Send: a CPU in user mode gets the
//	                     flush deferred to its next kernel entry and the
//	                     send returns at once (no kernel-mode code runs
//	                     before it); an IPI otherwise.

// State is a CPU's lazy-TLB state for the address space it has loaded.
type State uint8

// The states of a CPU. The numeric values are the word's values.
const (
	// Off: no address space loaded (the zero value of a slot).
	Off State = iota
	// OK: the CPU runs code that uses its address space; a shootdown must
	// interrupt it (an IPI).
	OK
	// Lazy: the CPU runs other work with the address space still loaded
	// (a kernel thread borrowing the mm). A shootdown marks it Flush
	// instead of interrupting it.
	Lazy
	// Flush: lazy, and a shootdown asked for a flush at the switch back.
	Flush
)

var stateNames = [...]string{"off", "ok", "lazy", "flush"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// stateWord is one CPU's state word. Invariants (see the handshake above):
// only the owner moves it out of OK, Off and Flush, and into Lazy; a
// shootdown writes it only by CAS(Lazy -> Flush); every Flush is consumed by
// an owner read-modify-write that returns it (Swap in 3 or 4), never by a
// plain store.
type stateWord struct {
	v atomicx.Uint64
}

func (w *stateWord) load() State {
	return State(w.v.Load()) // load: pairs with the owner's Store/Swap and the shootdowns' CAS
}

// store is for transitions out of states that only the owner writes (Off,
// OK) and for the flush-on-switch switch back.
func (w *stateWord) store(s State) {
	w.v.Store(uint64(s)) // store: owner only, from Off or OK (no CAS targets them); pairs with the shootdown's load (7)
}

// swap is the switch back (3) and leave (4).
func (w *stateWord) swap(s State) State {
	// swap: read and replace in one step, so a mark (CAS Lazy -> Flush)
	// lands before it (and is returned) or after it (and fails). Pairs
	// with the CAS in mark. Full barrier: the gen load after it cannot
	// move before it.
	return State(w.v.Swap(uint64(s)))
}

// mark is step 7 for a Lazy CPU.
func (w *stateWord) mark() bool {
	// CAS: Lazy -> Flush only if the owner has not switched back. Pairs
	// with the owner's Swap in switchBack and leave.
	return w.v.CompareAndSwap(uint64(Lazy), uint64(Flush))
}
