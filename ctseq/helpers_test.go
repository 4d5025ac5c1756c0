package ctseq_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The helpers of package ctseq_test's tests, benchmarks and fuzz targets,
// all in this file (helpers_internal_test.go has package ctseq's); the
// exception is raceEnabled, set by race_test.go or norace_test.go.

var (
	sinkBool bool
	sinkWork ctseq.Work
	sinkU64  uint64
)

const (
	rawSeqInc    = uint64(1) << (64 - ctseq.SeqBits)
	rawWorkShift = ctseq.StateBits
)

// other runs f in a loop on its own locked thread until the returned stop
// function is called; it waits for the loop to start so that the timed
// region is contended from its first op.
func other(b *testing.B, f func()) (stop func()) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs GOMAXPROCS >= 2")
	}
	var quit, started atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		started.Store(true)
		for !quit.Load() {
			for range 64 {
				f()
			}
		}
	}()
	for !started.Load() {
		runtime.Gosched()
	}
	return func() { quit.Store(true); wg.Wait() }
}

var sinkOther ctseq.Work

// recordingTable registers a handler on every bit that appends its bit to
// *ran.
func recordingTable(ran *[]int) *ctseq.Table {
	var tab ctseq.Table
	for b := 0; b < ctseq.WorkBits; b++ {
		tab.Set(b, func() { *ran = append(*ran, b) })
	}
	return &tab
}

// model is the reference: what a Word must look like after each operation,
// computed without bit tricks.
type model struct {
	state   ctseq.State
	seq     uint64 // modulo 2^SeqBits
	pending ctseq.Work
}

func (m *model) transition(to ctseq.State) {
	m.state = to
	m.seq = (m.seq + 1) % (1 << ctseq.SeqBits)
}

type modelSnap struct {
	snap  ctseq.Snapshot
	seq   uint64
	state ctseq.State
}

// entry is one level of Enter and the model's state when it was made.
type entry struct {
	e    ctseq.Entry
	prev ctseq.State
}

// exit undoes the innermost Enter in both the word and the model.
func exit(t *testing.T, w *ctseq.Word, m *model, entries *[]entry) {
	top := (*entries)[len(*entries)-1]
	*entries = (*entries)[:len(*entries)-1]
	before := w.Snapshot()
	w.Exit(top.e)
	if top.prev == ctseq.Kernel {
		require.Equal(t, before, w.Snapshot(), "a nested Exit makes no transition")
		return
	}
	m.transition(top.prev) // the outer level returns to the state it interrupted
	require.Equal(t, (before.Seq()+1)%(1<<ctseq.SeqBits), w.Snapshot().Seq(), "an outer Exit is one transition")
}

// check asserts that the word matches the model, and that QuiescentSince of
// every kept snapshot agrees with the model.
func check(t *testing.T, i int, w *ctseq.Word, m *model, snaps []modelSnap) {
	s := w.Snapshot()
	require.Equal(t, m.state, s.State(), "op %d: state", i)
	require.Equal(t, m.seq, s.Seq(), "op %d: sequence", i)
	if m.state == ctseq.User {
		require.Equal(t, m.pending, s.Work(), "op %d: pending work in User", i)
	} else {
		require.Zero(t, s.Work(), "op %d: no work outside User once a transition returned", i)
	}
	for j, ms := range snaps {
		require.Equal(t, ms.seq, ms.snap.Seq(), "snapshot %d: sequence", j)
		require.Equal(t, ms.state, ms.snap.State(), "snapshot %d: state", j)
		want := ms.state != ctseq.Kernel || ms.seq != m.seq
		require.Equal(t, want, w.QuiescentSince(ms.snap), "op %d: QuiescentSince(snapshot %d) (seq %d, %v; now seq %d)", i, j, ms.seq, ms.state, m.seq)
	}
}

type hammerConfig struct {
	senders int // each owns work bit i
	items   int // per sender
	// userSpin is how many iterations the owner spins in User per round
	// trip; 0 toggles as fast as it can.
	userSpin int
	// timeout bounds the wait for one item; an item not executed by then
	// is counted as lost.
	timeout time.Duration
}

type hammerResult struct {
	sent, deferred, refused   int64 // by senders: SetWorkIfUser true / false (then IPI)
	ranDeferred, ranIPI       int64 // by the owner: first executions, per path
	duplicates                int64 // executions of an item that had already run
	lost                      int64 // items never executed within the timeout
	untimely                  int64 // deferred items not run by the owner's next entry (delivered by the next entry)
	badPayload                int64 // a handler saw a payload it could not have been sent
	entries, nestedViolations int64
	firstUntimely             string
}

func (r hammerResult) String() string {
	return fmt.Sprintf("sent=%d deferred=%d refused(ipi)=%d ran-deferred=%d ran-ipi=%d duplicates=%d lost=%d untimely=%d bad-payload=%d owner-entries=%d",
		r.sent, r.deferred, r.refused, r.ranDeferred, r.ranIPI, r.duplicates, r.lost, r.untimely, r.badPayload, r.entries)
}

// slot is one sender's state, on its own cache lines.
type slot struct {
	_        [64]byte
	payload  int64        // plain: written by the sender before SetWorkIfUser, read by the handler
	executed atomic.Int64 // highest item number run so far; the sender waits on it
	ranAt    atomic.Int64 // owner entry count at which the latest deferred item ran
	last     int64        // owner only: highest item number run so far
	_        [64]byte
}

// ipi is one item delivered the slow way.
type ipi struct {
	sender int
	item   int64
}

// hammer runs one owner goroutine, locked to its thread, cycling
// User -> Kernel as fast as cfg allows, and cfg.senders goroutines each
// sending cfg.items numbered items on its own work bit: deferred by
// SetWorkIfUser if accepted, else by a simulated IPI (a mutex-guarded
// mailbox the owner drains at every kernel entry, after the deferred work).
// A sender waits until its item has run before sending the next, so each bit
// has at most one item outstanding, and the handler knows which item number
// it must see.
func hammer(t *testing.T, w *ctseq.Word, cfg hammerConfig) hammerResult {
	t.Helper()
	slots := make([]slot, cfg.senders)
	var (
		res      hammerResult
		entries  atomic.Int64 // owner's kernel entries from User so far; read by senders
		stop     atomic.Bool
		mu       sync.Mutex
		mailbox  []ipi
		queued   atomic.Int64 // non-zero when mailbox may be non-empty: spares the owner the lock
		untimely atomic.Int64
		firstBad atomic.Pointer[string]
		lost     atomic.Int64
		sent     = make([]int64, cfg.senders)
		deferred = make([]int64, cfg.senders)
	)
	// run executes item (if known) of sender i, on the owner.
	var count int64 // owner only: its entry count
	run := func(i int, item int64, viaIPI bool) {
		s := &slots[i]
		p := s.payload
		if viaIPI {
			// The mailbox names the item: it has run already, or the
			// payload must still be that item (the sender waits for it).
			switch {
			case item <= s.last:
				res.duplicates++
			case p != item:
				res.badPayload++
			default:
				s.last = item
				res.ranIPI++
				s.executed.Store(item) // store-release: publishes the run to the waiting sender
			}
			return
		}
		// A deferred run knows only the bit: the payload says which item.
		switch {
		case p == s.last+1:
			s.last = p
			res.ranDeferred++
			s.ranAt.Store(count) // store: before executed; read by the sender after it sees executed
			s.executed.Store(p)  // store-release: publishes the run to the waiting sender
		case p <= s.last:
			res.duplicates++
		default:
			res.badPayload++
		}
	}
	var tab ctseq.Table
	for i := range cfg.senders {
		tab.Set(int(i), func() { run(i, 0, false) })
	}
	var box []ipi
	drainMailbox := func() {
		if queued.Load() == 0 { // load: pairs with the sender's queued.Add after its append
			return
		}
		queued.Store(0) // store: before the swap below, so a later append re-arms it
		mu.Lock()
		box, mailbox = mailbox, box[:0]
		mu.Unlock()
		for _, m := range box {
			run(m.sender, m.item, true)
		}
	}

	ownerDone := make(chan struct{})
	go func() {
		defer close(ownerDone)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		inUser := false
		var sink int
		for iter := 0; ; iter++ {
			if !inUser {
				w.UserEnter()
			}
			inUser = true
			for j := 0; j < cfg.userSpin; j++ {
				sink += j
			}
			// Enter the kernel, one way or the other.
			var outer ctseq.Entry
			viaEnter := iter%8 == 3
			var work ctseq.Work
			if viaEnter {
				outer = w.Enter()
				work = outer.Work()
				if !outer.Outer() {
					res.nestedViolations++
				}
			} else {
				work = w.KernelEnter()
			}
			inUser = false
			count++
			entries.Store(count) // store: read by senders right after an acceptance
			tab.Drain(work)
			drainMailbox()
			if viaEnter {
				inner := w.Enter() // an interrupt inside the kernel
				if inner.Outer() || inner.Work() != 0 {
					res.nestedViolations++
				}
				w.Exit(inner)
				if stop.Load() {
					// Leave through the outer level, then end in Kernel.
					w.Exit(outer)
					tab.Drain(w.KernelEnter())
					count++
					break
				}
				w.Exit(outer) // back to User without UserEnter
				inUser = true
				continue
			}
			if iter%64 == 17 {
				w.IdleEnter()
				if got := w.IdleExit(); got != 0 {
					res.nestedViolations++
				}
				drainMailbox() // an IPI wakes an idle CPU
			}
			if stop.Load() {
				break
			}
		}
		drainMailbox()
		res.entries = count
		_ = sink
	}()

	var wg sync.WaitGroup
	for i := range cfg.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &slots[i]
			bit := ctseq.Of(int(i))
			for item := int64(1); item <= int64(cfg.items); item++ {
				s.payload = item // plain: ordered before the handler's read only by the protocol
				sent[i]++
				before := entries.Load() // load: entry count k' <= k, the count at acceptance
				if accepted(w.SetWorkIfUser(bit)) {
					after := entries.Load() // load: entry count >= k
					deferred[i]++
					if !wait(&s.executed, item, cfg.timeout) {
						lost.Add(int64(cfg.items) - item + 1)
						return
					}
					// Delivered by the next entry, exactly: at the CAS that accepted the item the
					// owner was in User after entry k (whose count was
					// already stored) and before entry k+1 (whose count is
					// stored after its KernelEnter), so entries == k then,
					// and before <= k <= after. The work is returned by entry
					// k+1 and run under count k+1.
					if r := s.ranAt.Load(); r < before+1 || r > after+1 {
						if untimely.Add(1) == 1 {
							msg := fmt.Sprintf("sender %d item %d accepted with entries in [%d, %d], ran at entry %d", i, item, before, after, r)
							firstBad.Store(&msg)
						}
					}
					continue
				}
				mu.Lock()
				mailbox = append(mailbox, ipi{i, item})
				mu.Unlock()
				queued.Add(1) // RMW: after the append; the owner locks only when it sees this
				if !wait(&s.executed, item, cfg.timeout) {
					lost.Add(int64(cfg.items) - item + 1)
					return
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-ownerDone

	for i := range cfg.senders {
		res.sent += sent[i]
		res.deferred += deferred[i]
	}
	res.refused = res.sent - res.deferred
	res.lost = lost.Load()
	res.untimely = untimely.Load()
	if p := firstBad.Load(); p != nil {
		res.firstUntimely = *p
	}
	return res
}

// wait spins until v >= want, yielding now and then; false after timeout.
func wait(v *atomic.Int64, want int64, timeout time.Duration) bool {
	var deadline time.Time
	for spins := 0; v.Load() < want; spins++ { // load-acquire: pairs with the owner's executed.Store
		if spins%8 == 7 {
			runtime.Gosched()
		}
		if spins%4096 == 4095 {
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(timeout)
			} else if now.After(deadline) {
				return false
			}
		}
	}
	return true
}

// hammerItems is the number of items per sender: 200k in all normally.
func hammerItems(t *testing.T, senders int) int {
	switch {
	case testing.Short():
		return 3000
	case raceEnabled:
		return 20_000
	default:
		return 200_000 / senders
	}
}

func requireExactlyOnce(t *testing.T, name string, r hammerResult) {
	t.Helper()
	require.Zero(t, r.lost, "%s: lost items: %v", name, r)
	require.Zero(t, r.duplicates, "%s: duplicate executions: %v", name, r)
	require.Zero(t, r.badPayload, "%s: handlers saw impossible payloads: %v", name, r)
	require.Zero(t, r.untimely, "%s: delivered by the next entry: %s (%v)", name, r.firstUntimely, r)
	require.Zero(t, r.nestedViolations, "%s: nested Enter/Exit or IdleExit misbehaved", name)
	require.Equal(t, r.deferred, r.ranDeferred, "%s: every deferred item runs deferred, once: %v", name, r)
	require.Equal(t, r.refused, r.ranIPI, "%s: every refused item runs by IPI, once: %v", name, r)
	require.Equal(t, r.sent, r.ranDeferred+r.ranIPI, "%s: every item runs: %v", name, r)
}

// step makes transition number i of the cycle Kernel -> User -> Kernel ->
// Idle -> Kernel ...
func step(w *ctseq.Word, i uint64) {
	switch i % 4 {
	case 0:
		w.UserEnter()
	case 1:
		w.KernelEnter()
	case 2:
		w.IdleEnter()
	case 3:
		w.IdleExit()
	}
}

// inUser returns a word that has made one transition, Kernel to User.
func inUser(t *testing.T) *ctseq.Word {
	t.Helper()
	w := new(ctseq.Word)
	w.UserEnter()
	require.Equal(t, ctseq.User, w.Snapshot().State(), "setup: UserEnter must leave the word in User")
	return w
}

// refusal asserts that SetWorkIfUser refuses in the word's current state and
// leaves it bit-for-bit unchanged (clean refusal: no trace).
func refusal(t *testing.T, w *ctseq.Word, state ctseq.State) {
	t.Helper()
	before := w.Snapshot()
	require.Equal(t, state, before.State(), "setup: word in %v", state)
	for _, work := range []ctseq.Work{ctseq.Of(0), ctseq.Of(5) | ctseq.Of(9), 0xffff, 0} {
		require.False(t, accepted(w.SetWorkIfUser(work)), "SetWorkIfUser(%v) must refuse in %v", work, state)
		require.Equal(t, before, w.Snapshot(), "a refused SetWorkIfUser(%v) must leave the word bit-for-bit unchanged", work)
	}
}

// requirePanicPrefix asserts that f panics with a string starting with prefix.
func requirePanicPrefix(t *testing.T, prefix string, f func()) {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	require.NotNil(t, r, "expected a panic starting with %q", prefix)
	msg := fmt.Sprint(r)
	require.True(t, strings.HasPrefix(msg, prefix), "panic %q must start with %q", msg, prefix)
}

// next returns the sequence that follows s, modulo 2^SeqBits.
func next(s uint64) uint64 { return (s + 1) & (1<<ctseq.SeqBits - 1) }

// accepted is SetWorkIfUser's verdict alone: accepted(w.SetWorkIfUser(work)).
func accepted(_ ctseq.Snapshot, ok bool) bool { return ok }
