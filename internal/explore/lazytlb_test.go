//go:build ctdefer_explore

package explore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// The lazy-TLB scenarios (no stale translation): one CPU and one address space; an owner
// going active, lazy and back while a flusher shoots down. The IPI is a
// mailbox word the owner services at its poll points, as in the ctseq
// scenarios; the flusher waits (explore.Wait) until it has been serviced,
// which is lazytlb's synchronous IPI. The real package runs through
// lazytlbsim.New with that mailbox as its SendFunc.
//
// Checks:
//   - no stale translation: whenever the owner uses the address space, the generation it
//     flushed to is at least that of every shootdown that has returned;
//   - FLUSH is never overwritten (final): every Lazy -> Flush mark was seen by a switch back
//     (FLUSH is never overwritten), the SPIN model's p5_flush_kept;
//   - no deadlock: in leave-vs-shootdown the owner stops polling once it
//     has left (it released the CPU), so a shootdown that sent it an IPI
//     after that would wait forever (the explorer reports threads that wait
//     with none able to run).

// lazyImpl is a one-CPU lazy TLB under test.
type lazyImpl struct {
	name string
	new  func(r *explore.Run, ipi func(), poll func(done func() bool)) lazyCPU
}

type lazyCPU interface {
	enterLazy()
	switchBack()
	handleIPI()
	shootdown() (gen uint64, marked bool)
	flushed() uint64
	marksSeen() int
	// join and leave are the owner's SwitchTo and Leave.
	join() (ok bool)
	leave()
}

type realLazy struct {
	r  *explore.Run
	t  *lazytlb.TLB
	c  *lazytlb.CPU
	mm *lazytlb.MM
}

func newRealLazy(p lazytlbsim.Policy, joined bool) func(r *explore.Run, ipi func(), poll func(done func() bool)) lazyCPU {
	return func(r *explore.Run, ipi func(), poll func(done func() bool)) lazyCPU {
		v, err := lazytlbsim.New([]int{0}, func(context.Context, int, bool) (ctdefer.Delivery, error) { ipi(); return ctdefer.IPI, nil },
			func(_ int, done func() bool) { poll(done) },
			lazytlbsim.WithPolicy(lazytlb.Options{Flush: func(int, *lazytlb.MM, uint64) {}}, p))
		if err != nil {
			panic(err)
		}
		t := v.(*lazytlb.TLB)
		c, err := lazytlbsim.Owner(t, 0)
		if err != nil {
			panic(err)
		}
		l := &realLazy{r: r, t: t, c: c.(*lazytlb.CPU), mm: t.NewMM("a")}
		if joined {
			l.c.SwitchTo(l.mm) // in Setup: not a scheduling point
		}
		return l
	}
}

func (l *realLazy) enterLazy()  { l.c.EnterLazy() }
func (l *realLazy) switchBack() { l.c.SwitchTo(l.mm) } // lazy: the switch back
func (l *realLazy) handleIPI()  { lazytlbsim.HandleIPI(l.t, 0) }
func (l *realLazy) join() bool  { l.c.SwitchTo(l.mm); return true }
func (l *realLazy) leave()      { l.c.Leave() }
func (l *realLazy) marksSeen() int {
	return int(l.t.Stats().MarksSeen)
}

func (l *realLazy) flushed() uint64 {
	return lazytlbsim.Flushed(l.mm, 0) // a plain atomic: not a scheduling point
}

func (l *realLazy) shootdown() (uint64, bool) {
	res, err := l.t.Shootdown(context.Background(), l.mm)
	if err != nil {
		l.r.Fail(err)
	}
	return res.Gen, res.Marked == 1
}

var lazyReal = func(p lazytlbsim.Policy) lazyImpl {
	return lazyImpl{name: "lazytlb/" + p.String(), new: newRealLazy(p, true)}
}

// lazyWorld is one run's mailbox and bookkeeping.
type lazyWorld struct {
	r           *explore.Run
	cpu         lazyCPU
	mbox        *atomicx.Uint64 // 1: a flush IPI is pending
	completed   uint64          // generation of the newest shootdown that returned
	marks       int             // successful Lazy -> Flush marks
	flusherDone bool
}

func newLazyWorld(r *explore.Run, im lazyImpl) *lazyWorld {
	w := &lazyWorld{r: r, mbox: new(atomicx.Uint64)}
	r.Name(w.mbox, "ipi", nil)
	w.cpu = im.new(r, w.ipi, w.pollUntil)
	return w
}

// pollUntil is the owner's poll point while it waits in Leave: it waits
// until an IPI is posted or done reports true, then polls.
func (w *lazyWorld) pollUntil(done func() bool) {
	explore.Wait(func() bool { return w.mbox.Load() != 0 || done() })
	w.poll()
}

// ipi is the flusher's synchronous IPI: post, then wait until serviced.
func (w *lazyWorld) ipi() {
	w.mbox.Store(1)
	explore.Wait(func() bool { return w.mbox.Load() == 0 })
}

// poll is the owner's poll point.
func (w *lazyWorld) poll() {
	if w.mbox.Load() != 0 {
		w.cpu.handleIPI()
		w.mbox.Store(0)
	}
}

// use is a use of the address space by the owner: the no-stale-translation check.
func (w *lazyWorld) use(where string) {
	f, c := w.cpu.flushed(), w.completed
	w.r.Assert(f >= c, "no-stale-translation: owner uses the mm %s at generation %d, but the shootdown of generation %d has returned", where, f, c)
}

// serveUntilFlusherDone keeps taking IPIs until the flusher has finished.
func (w *lazyWorld) serveUntilFlusherDone() {
	for {
		explore.Wait(func() bool { return w.flusherDone || w.mbox.Load() != 0 })
		if w.flusherDone {
			return
		}
		w.poll()
	}
}

func (w *lazyWorld) addFlusher(flushes int) {
	w.r.Go("flusher", func() {
		for range flushes {
			gen, marked := w.cpu.shootdown()
			// Same step as the shootdown's last operation (the mark's CAS,
			// or the return from the IPI wait): it has returned.
			if marked {
				w.marks++
			}
			w.completed = gen
		}
		w.flusherDone = true
	})
}

func (w *lazyWorld) checkKept() error {
	if seen := w.cpu.marksSeen(); seen != w.marks {
		return fmt.Errorf("flush-overwritten: %d Lazy -> Flush marks, but the switch backs saw %d: a FLUSH was overwritten", w.marks, seen)
	}
	return nil
}

// switchVsShootdown: the owner, active on the mm, does rounds of {poll,
// use, enter lazy, poll, switch back, use, poll}, then takes IPIs until the
// flusher is done and uses the mm once more; the flusher shoots down
// flushes times.
func switchVsShootdown(im lazyImpl, rounds, flushes int) explore.Scenario {
	name := "lazytlb/switch-vs-shootdown"
	if rounds != 1 || flushes != 2 {
		name += fmt.Sprintf("-%dx%d", rounds, flushes)
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		w := newLazyWorld(r, im)
		r.Go("owner", func() {
			for range rounds {
				w.poll()
				w.use("while active")
				w.cpu.enterLazy()
				w.poll() // lazy work polls too
				w.cpu.switchBack()
				w.use("after the switch back")
				w.poll()
			}
			w.serveUntilFlusherDone()
			w.use("at the end")
		})
		w.addFlusher(flushes)
		r.Check(w.checkKept)
	}}
}

// joinVsShootdown: the owner starts with nothing loaded, joins the mm,
// uses it, leaves, joins again and uses it (the Dekker pattern of join
// against the shootdown's read of the set), while the flusher shoots down
// twice.
func joinVsShootdown(p lazytlbsim.Policy) explore.Scenario {
	im := lazyImpl{name: "lazytlb/" + p.String(), new: newRealLazy(p, false)}
	return explore.Scenario{Name: "lazytlb/join-vs-shootdown", Setup: func(r *explore.Run) {
		w := newLazyWorld(r, im)
		r.Go("owner", func() {
			w.cpu.join()
			w.use("after join")
			w.poll()
			w.cpu.leave()
			w.poll()
			w.cpu.join()
			w.use("after rejoin")
			w.cpu.enterLazy()
			w.cpu.leave()
			w.serveUntilFlusherDone()
		})
		w.addFlusher(2)
	}}
}

// leaveVsShootdown: the owner, active on the mm (lazy first if lazy),
// leaves it and releases the CPU: it ends, and nobody polls the mailbox any
// more. The flusher shoots down twice. A shootdown that read the CPU in the
// set, or OK, before the leave must not then send it an IPI that nobody
// will take (a deadlock); one whose send was already under way must be
// served by the leaving owner.
func leaveVsShootdown(p lazytlbsim.Policy, lazy bool) explore.Scenario {
	im := lazyImpl{name: "lazytlb/" + p.String(), new: newRealLazy(p, true)}
	name := "lazytlb/leave-vs-shootdown"
	if lazy {
		name += "-lazy"
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		w := newLazyWorld(r, im)
		r.Go("owner", func() {
			w.poll()
			w.use("while active")
			if lazy {
				w.cpu.enterLazy()
			}
			w.cpu.leave() // takes the IPIs in flight
			// Released: no more polls.
		})
		w.addFlusher(2)
		r.Check(w.checkKept)
	}}
}

type lazyExploration struct {
	scenario explore.Scenario
	impl     string
	opts     explore.Options
}

func lazyExplorations() []lazyExploration {
	var rows []lazyExploration
	// The send (announce, re-check, send, end) and Leave's wait add steps to
	// every send: the two longest scenarios are bounded in preemptions
	// (exhaustive, join-vs-shootdown alone runs 30 million schedules, six
	// minutes); the others are exhaustive.
	bounded := explore.Options{Preemptions: 7}
	for _, p := range []lazytlbsim.Policy{lazytlbsim.PolicyLazy, lazytlbsim.PolicyEager, lazytlbsim.PolicyFlushOnSwitch} {
		im := lazyReal(p)
		rows = append(rows,
			lazyExploration{scenario: switchVsShootdown(im, 1, 2), impl: im.name},
			lazyExploration{scenario: switchVsShootdown(im, 2, 2), impl: im.name, opts: bounded},
			lazyExploration{scenario: joinVsShootdown(p), impl: im.name, opts: bounded},
			lazyExploration{scenario: leaveVsShootdown(p, false), impl: im.name})
	}
	lazy := lazyReal(lazytlbsim.PolicyLazy)
	rows = append(rows,
		lazyExploration{scenario: leaveVsShootdown(lazytlbsim.PolicyLazy, true), impl: lazy.name},
		// One shootdown against one lazy episode: the smallest scenario in
		// which a plain-store switch back loses a flush
		// (switch-back-plain-store-1x1).
		lazyExploration{scenario: switchVsShootdown(lazy, 1, 1), impl: lazy.name})
	return rows
}

// TestLazyTLBExplore runs the lazy-TLB scenarios over package lazytlb (each
// policy) exhaustively or within the stated bound, requiring 0 violations.
// With -v:
//
//	lazytlb/switch-vs-shootdown: N interleavings (bound=none), 0 violations
//
// Mutants caught (verify/mutants/catalogue.txt): join-reads-gen-first,
// leave-skips-inflight-wait, leave-skips-inflight-wait-eager,
// switch-back-plain-store, switch-back-plain-store-1x1.
func TestLazyTLBExplore(t *testing.T) {
	for _, x := range lazyExplorations() {
		t.Run(x.scenario.Name+"/"+x.impl, func(t *testing.T) {
			exploreAndReport(t, x.scenario, x.opts, x.impl)
		})
	}
}
