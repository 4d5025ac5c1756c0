//go:build ctdefer_explore

package explore_test

// The harness the ctseq scenarios share: ctseq.Word behind one interface,
// and a "world" of bookkeeping that the owner, the senders and the observers
// update and check. Broken versions of the word are mutants of the real code
// in the catalogue (verify/mutants/catalogue.txt), run against these
// scenarios through go test -overlay.
//
// Bookkeeping lives in plain Go variables shared by the threads. That is
// safe because the explorer runs one thread at a time (see the package
// documentation), and exact because the code between two atomic operations
// runs in the same step as the first one: a sender that records "accepted"
// right after SetWorkIfUser returns records it atomically with the CAS that
// accepted, and a peek at the word (explore.Atomically) in that code sees the
// word as that CAS left it.

import (
	"fmt"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// cpuWord is what every scenario drives: ctseq.Word.
type cpuWord interface {
	UserEnter()
	KernelEnter() ctseq.Work
	SetWorkIfUser(ctseq.Work) bool
}

// observable words also offer Idle and snapshots. snap and quiescentSince
// are one load each; checks call snap inside explore.Atomically to peek
// without adding a scheduling point.
type observable interface {
	cpuWord
	IdleEnter()
	IdleExit() ctseq.Work
	snap() (view, any)
	quiescentSince(s any) bool
	// nest does a nested Enter/Exit pair and reports what Enter returned;
	// ok is false if the word has no Enter/Exit.
	nest() (outer bool, work ctseq.Work, ok bool)
}

// view is a word's fields at one instant.
type view struct {
	seq   uint64
	state ctseq.State
	work  ctseq.Work
}

func (v view) String() string {
	return fmt.Sprintf("{seq %d, %v, work %#x}", v.seq, v.state, uint16(v.work))
}

const seqMask = ctseq.SeqMask

// showCtseqWord returns a trace formatter for w. ctseq.Word stores an
// encoded, biased value (docs/design/word.md, Layout) that only ctseq decodes, so the
// formatter ignores the raw value it is given and decodes the word through a
// Snapshot instead: the same value, since no thread runs while the explorer
// writes its trace, and inside explore.Atomically, so the load is no
// scheduling point.
func showCtseqWord(w *ctseq.Word) func(uint64) string {
	return func(uint64) string {
		var s ctseq.Snapshot
		explore.Atomically(func() { s = w.Snapshot() })
		return fmt.Sprintf("seq=%d,%v,work=%#x", s.Seq(), s.State(), uint16(s.Work()))
	}
}

// adapt makes ctseq.Word observable.
type adapt struct{ w *ctseq.Word }

func (a adapt) UserEnter()              { a.w.UserEnter() }
func (a adapt) KernelEnter() ctseq.Work { return a.w.KernelEnter() }
func (a adapt) SetWorkIfUser(w ctseq.Work) bool {
	_, ok := a.w.SetWorkIfUser(w)
	return ok
}
func (a adapt) IdleEnter()                { a.w.IdleEnter() }
func (a adapt) IdleExit() ctseq.Work      { return a.w.IdleExit() }
func (a adapt) quiescentSince(s any) bool { return a.w.QuiescentSince(s.(ctseq.Snapshot)) }

func (a adapt) snap() (view, any) {
	s := a.w.Snapshot()
	return view{s.Seq(), s.State(), s.Work()}, s
}

func (a adapt) nest() (outer bool, work ctseq.Work, ok bool) {
	e := a.w.Enter()
	a.w.Exit(e)
	return e.Outer(), e.Work(), true
}

// impl is one implementation of the word under test.
type impl struct {
	name string
	new  func(r *explore.Run) cpuWord
	// blind turns off the checks that peek at the word after each step
	// (clean refusal at the sender, the sequence always advances at each
	// transition), leaving exactly-once, next entry and the
	// grace-period polls: the catalogue's mutants that select a blind row
	// show that those catch the bug on their own.
	blind bool
}

func blind(im impl) impl {
	im.name += "-blind"
	im.blind = true
	return im
}

var (
	realWord = impl{name: "ctseq.Word", new: func(r *explore.Run) cpuWord {
		w := new(ctseq.Word)
		r.Name(w, "word", showCtseqWord(w))
		return adapt{w}
	}}
)

// item is one unit of work a sender delivers, with its own work bit.
type item struct {
	bit      int
	sending  bool // SetWorkIfUser called
	accepted bool // SetWorkIfUser returned true
	refused  bool // SetWorkIfUser returned false: sent by IPI
	at       view // the word at the decision, if seen
	seen     bool
	runs     int
	via      string // "deferred" or "ipi", of the first run
}

// where describes the word at the item's decision, if it was seen.
func (it *item) where() string {
	if !it.seen {
		return ""
	}
	return fmt.Sprintf(" in the word %v", it.at)
}

// world is one run's shared state and bookkeeping.
type world struct {
	r     *explore.Run
	w     cpuWord
	obs   observable // nil if w is not observable
	blind bool       // no peeks: skip the clean-refusal and sequence-advances step checks
	items []item
	mbox  []*atomicx.Uint64 // per sender: bit i set = item i sent by IPI
	left  int               // senders still running

	// Owner bookkeeping, updated right after each transition returns.
	// It is exact only for transitions that are one atomic operation,
	// which is the case when there is no work to clear (no senders).
	trans int // transitions completed
	phase int // scenario-defined progress marker
}

func newWorld(r *explore.Run, im impl) *world {
	w := &world{r: r, w: im.new(r), blind: im.blind}
	w.obs, _ = w.w.(observable)
	return w
}

// peek returns the word's fields now, without a scheduling point; ok is
// false if the word is not observable.
func (w *world) peek() (v view, ok bool) {
	if w.obs == nil || w.blind {
		return view{}, false
	}
	explore.Atomically(func() { v, _ = w.obs.snap() })
	return v, true
}

// addSender declares a sender thread that delivers one item per bit, in
// order: deferred if SetWorkIfUser accepts it, else by IPI (its mailbox).
func (w *world) addSender(bits ...int) {
	s := len(w.mbox)
	mb := new(atomicx.Uint64)
	w.r.Name(mb, fmt.Sprint("mbox", s), nil)
	w.mbox = append(w.mbox, mb)
	first := len(w.items)
	for _, b := range bits {
		w.items = append(w.items, item{bit: b})
	}
	w.left++
	w.r.Go(fmt.Sprint("sender", s), func() {
		for i := first; i < first+len(bits); i++ {
			w.send(s, i)
		}
		w.left--
	})
}

// send delivers item i from sender s.
func (w *world) send(s, i int) {
	it := &w.items[i]
	it.sending = true
	ok := w.w.SetWorkIfUser(ctseq.Of(it.bit))
	// Same step as SetWorkIfUser's last operation (the accepting CAS, or
	// the load it decided on): v is the word that decision saw or made.
	v, seen := w.peek()
	it.at = v
	it.seen = seen
	if ok {
		it.accepted = true
		// Clean refusal: accepted only in a User word, which then holds the bit.
		// Given this, an accepted item was accepted before the owner's
		// next KernelEnter (after it the word is Kernel until the owner's
		// next UserEnter), which is how the next-entry check below attributes acceptances.
		w.r.Assert(!seen || v.state == ctseq.User && v.work.Has(it.bit),
			"clean-refusal: item %d accepted, but the word is then %v: the owner is not in user or the bit is not pending", i, v)
		return
	}
	it.refused = true
	// Clean refusal: refused only when the owner is not in user at the deciding load
	// (this step), leaving no trace: the bit is not in the word (no one
	// else sets this item's bit).
	w.r.Assert(!seen || v.state != ctseq.User, "clean-refusal: item %d refused while the owner is in user (word %v)", i, v)
	w.r.Assert(!seen || !v.work.Has(it.bit), "clean-refusal: item %d refused but its bit is in the word %v", i, v)
	w.mbox[s].Add(uint64(1) << i) // "send the IPI"
}

// run executes item i on the owner.
func (w *world) run(i int, via string) {
	it := &w.items[i]
	it.runs++
	w.r.Assert(it.runs == 1, "exactly-once: item %d ran twice: %s, then %s", i, it.via, via)
	it.via = via
}

// transition performs one owner transition and checks that the sequence always advances: the
// sequence advances by exactly one (mod SeqMask+1) and the state is want.
func (w *world) transition(name string, want ctseq.State, fn func()) {
	b, ok := w.peek()
	fn()
	w.trans++
	if !ok {
		return
	}
	a, _ := w.peek()
	w.r.Assert(a.seq == (b.seq+1)&seqMask, "sequence-advances: %s moved the sequence from %d to %d, want +1", name, b.seq, a.seq)
	w.r.Assert(a.state == want, "sequence-advances: %s left the owner in %v, want %v", name, a.state, want)
}

func (w *world) userEnter() { w.transition("UserEnter", ctseq.User, w.w.UserEnter) }
func (w *world) idleEnter() { w.transition("IdleEnter", ctseq.Idle, w.obs.IdleEnter) }

func (w *world) kernelEnter() {
	var got ctseq.Work
	w.transition("KernelEnter", ctseq.Kernel, func() { got = w.w.KernelEnter() })
	w.drain("KernelEnter", got)
}

func (w *world) idleExit() {
	var got ctseq.Work
	w.transition("IdleExit", ctseq.Kernel, func() { got = w.obs.IdleExit() })
	w.drain("IdleExit", got)
}

// drain checks the work an entry returned and runs it.
//
// Delivered by the next entry: every item accepted and not yet run must be in got: it was accepted
// in a User word (clean refusal, checked by the sender) before this entry, so this
// entry, or an earlier one, had to return it. Exactly-once: got holds no refused item
// (it is also sent by IPI: it would run twice) and no item never sent. An
// item whose SetWorkIfUser is still in progress may be returned (its CAS
// succeeded and the call has not returned yet: impossible with ctseq.Word,
// whose successful CAS and return are one step); it runs deferred now, and
// if the call then fails, the IPI runs it a second time, which run reports.
func (w *world) drain(name string, got ctseq.Work) {
	if a, ok := w.peek(); ok {
		w.r.Assert(a.work == 0, "clean-refusal: work %#x is in the word %v after %s: set while the owner was not in user", uint16(a.work), a, name)
	}
	for i := range w.items {
		it := &w.items[i]
		in := got.Has(it.bit)
		got &^= ctseq.Of(it.bit)
		switch {
		case in && it.refused:
			w.r.Fail(fmt.Errorf("exactly-once: %s returned item %d, which SetWorkIfUser refused%s and its sender sent by IPI: it runs twice", name, i, it.where()))
		case in && !it.sending:
			w.r.Fail(fmt.Errorf("exactly-once: %s returned item %d, which was never sent", name, i))
		case !in && it.accepted && it.runs == 0:
			w.r.Fail(fmt.Errorf("next-entry: item %d, accepted%s before this %s, is not returned by it", i, it.where(), name))
		}
		if in {
			w.run(i, "deferred")
		}
	}
	w.r.Assert(got == 0, "exactly-once: %s returned bits %#x that no item uses", name, uint16(got))
}

// mailbox runs the items sent to the owner by IPI.
func (w *world) mailbox() {
	for _, mb := range w.mbox {
		v := mb.Swap(0)
		for i := range w.items {
			if v&(1<<i) != 0 {
				w.run(i, "ipi")
			}
		}
	}
}

// nest runs a nested Enter/Exit pair in the kernel: it must make no
// transition and leave the word as it was.
func (w *world) nest() {
	if w.obs == nil {
		return
	}
	if w.blind {
		w.obs.nest()
		return
	}
	b, _ := w.peek()
	outer, work, ok := w.obs.nest()
	if !ok {
		return
	}
	a, _ := w.peek()
	w.r.Assert(!outer && work == 0, "nested Enter in the kernel made a transition (outer %v, work %v)", outer, work)
	w.r.Assert(a == b, "nested-entry: nested Enter/Exit changed the word from %v to %v", b, a)
}

// checkAllRanOnce is the final exactly-once check.
func (w *world) checkAllRanOnce() error {
	for i, it := range w.items {
		if it.runs != 1 {
			return fmt.Errorf("exactly-once: item %d ran %d times (accepted %v, refused %v%s)", i, it.runs, it.accepted, it.refused, it.where())
		}
	}
	return nil
}

// poll checks one QuiescentSince against the owner's bookkeeping: s was
// taken when the owner had completed t0 transitions.
//
// A snapshot in User or Idle is quiescent in itself. For one in the kernel:
// with no transition since, the owner is still in the kernel stretch of the
// snapshot and the answer must be "no" (a kernel stretch is never
// quiescent); after n transitions, with n not
// a multiple of SeqMask+1, it must be "yes" (the sequence always advances: in particular an exit/enter
// pair is never missed); after a positive multiple, the sequence reads
// equal again and "not yet" is allowed (ctseq's documented wrap).
func (w *world) poll(s view, raw any, t0 int) {
	q := w.obs.quiescentSince(raw)
	n := w.trans - t0
	switch {
	case s.state != ctseq.Kernel:
		w.r.Assert(q, "QuiescentSince false for a snapshot in %v", s.state)
	case n == 0:
		w.r.Assert(!q, "kernel-stretch-quiescent: QuiescentSince true while the owner is still in the kernel stretch of the snapshot %v", s)
	case uint64(n)&seqMask != 0:
		w.r.Assert(q, "sequence-advances: QuiescentSince false after %d transitions since the snapshot %v", n, s)
	}
}
