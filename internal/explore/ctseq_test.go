//go:build ctdefer_explore

package explore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// sendersConfig shapes a senders scenario: one slice of work bits per
// sender (one item per bit), and the owner's user/kernel round trips.
type sendersConfig struct {
	senders [][]int
	rounds  int
}

// twoSenders is the scenario of the race of the LKML thread
// "context-tracking: Introduce work deferral infrastructure": two senders,
// one item each, bits at both ends of the work field; the owner makes two
// round trips with a nested Enter/Exit after the first.
var twoSenders = sendersConfig{senders: [][]int{{0}, {ctseq.WorkBits - 1}}, rounds: 2}

// sendersScenario: the owner goes to user and back rounds times, running
// the work each KernelEnter returns and then its IPI mailbox, with a nested
// Enter/Exit in the kernel after the first round; at the end it waits for
// the senders and runs the last IPIs. Each sender delivers its items.
// Checks: exactly-once delivery (each item runs exactly once), delivered by
// the next entry (an entry returns every item accepted before it), clean
// refusal (acceptance and refusal match the owner's state
// at the deciding step; a refusal leaves no trace), the sequence always advances (each transition
// advances the sequence by one; a nested pair changes nothing).
func sendersScenario(name string, im impl, cfg sendersConfig) explore.Scenario {
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		w := newWorld(r, im)
		r.Go("owner", func() {
			for round := range cfg.rounds {
				w.userEnter()
				w.kernelEnter()
				w.mailbox()
				if round == 0 {
					w.nest()
				}
			}
			explore.Wait(func() bool { return w.left == 0 })
			w.mailbox()
		})
		for _, bits := range cfg.senders {
			w.addSender(bits...)
		}
		r.Check(w.checkAllRanOnce)
	}}
}

// narrowWrap: with no senders, the owner makes eight transitions (two full
// turns of the 2-bit sequence of the ctdefer_narrowseq build) through User,
// Idle and a nested Enter/Exit, while an observer takes three snapshots and
// polls QuiescentSince twice after each. Checks: a kernel stretch is never quiescent (never "quiescent" while
// the owner is in the kernel stretch of the snapshot) and the sequence always advances (any number of
// transitions that is not a multiple of SeqMask+1, in particular an
// exit/enter pair, is seen), plus the sequence always advances on each transition.
func narrowWrap(im impl) explore.Scenario {
	return explore.Scenario{Name: "ctseq/narrow-wrap", Setup: func(r *explore.Run) {
		w := newWorld(r, im)
		r.Go("owner", func() {
			w.userEnter()
			w.kernelEnter()
			w.nest()
			w.idleEnter()
			w.idleExit()
			w.userEnter()
			w.kernelEnter()
			w.userEnter()
			w.kernelEnter()
		})
		r.Go("observer", func() {
			for range 3 {
				s, raw := w.obs.snap()
				t0 := w.trans
				w.poll(s, raw, t0)
				w.poll(s, raw, t0)
			}
		})
	}}
}

// gracePeriod: the owner starts in user and enters the kernel; an observer
// snapshots it there (the owner waits for the snapshot between two nested
// Enter/Exit pairs, so the snapshot is inside the stretch), then polls
// QuiescentSince four times while the owner leaves the kernel, to user or to
// idle (viaIdle), and goes on. Check: "not yet" until the owner's UserEnter
// or IdleEnter, "yes" after (see world.poll for the wrap exception).
func gracePeriod(im impl, viaIdle bool) explore.Scenario {
	name := "ctseq/grace-period/user"
	if viaIdle {
		name = "ctseq/grace-period/idle"
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		w := newWorld(r, im)
		w.w.UserEnter() // not a scheduling point: Setup
		snapped := false
		r.Go("owner", func() {
			w.kernelEnter()
			w.phase = 1 // in the kernel stretch
			w.nest()
			explore.Wait(func() bool { return snapped })
			w.nest()
			if viaIdle {
				w.idleEnter()
				w.idleExit()
				w.userEnter()
			} else {
				w.userEnter()
				w.kernelEnter()
				w.idleEnter()
			}
		})
		r.Go("observer", func() {
			explore.Wait(func() bool { return w.phase == 1 })
			s, raw := w.obs.snap()
			t0 := w.trans
			snapped = true
			r.Assert(s.state == ctseq.Kernel, "snapshot %v taken in the kernel stretch is not Kernel", s)
			for range 4 {
				w.poll(s, raw, t0)
			}
		})
	}}
}

// exploration is one row of the table: a scenario over ctseq.Word, which
// must show no violation.
type exploration struct {
	scenario explore.Scenario
	impl     impl
	opts     explore.Options
}

// explorations are the rows of TestCtseqExplore. Broken words are not rows:
// they are mutants of ctseq in the catalogue (verify/mutants/catalogue.txt:
// setwork-two-atomic, setwork-ignores-state, userenter-keeps-seq, ...),
// each of which selects the rows below that must fail under it.
func explorations() []exploration {
	var rows []exploration
	ok := func(s explore.Scenario, im impl) {
		rows = append(rows, exploration{scenario: s, impl: im})
	}
	ok(sendersScenario("ctseq/two-senders", realWord, twoSenders), realWord)
	ok(narrowWrap(realWord), realWord)
	ok(gracePeriod(realWord, false), realWord)
	ok(gracePeriod(realWord, true), realWord)
	// The same word with the per-step peeks off: the end-to-end checks
	// alone (exactly-once, next entry, the grace-period polls). The
	// catalogue's setwork-two-atomic and setwork-ignores-state-blind select
	// these rows: exactly-once or next-entry catches them without the
	// clean-refusal peeks.
	ok(sendersScenario("ctseq/two-senders", blind(realWord), twoSenders), blind(realWord))
	ok(gracePeriod(blind(realWord), false), blind(realWord))
	// Bigger configurations cannot be enumerated: three senders with one
	// item each over two round trips have about 10^9 interleavings, and
	// threeSenders (two items each, three round trips) far more. They run
	// with a preemption bound instead: the catalogue's word mutants are
	// caught with at most 2 preemptions (TestCtseqExploreBounded), and bugs
	// needing more are rare (loom, CHESS). Measured on the 2-core CI machine:
	//   three senders x 1 item, 2 rounds: bound 2: 4,392 schedules (35 ms);
	//     3: 26,478 (0.2 s); 4: 118,068 (1.1 s); 5: 424,038 (3.8 s).
	//   threeSenders: bound 2: 17,304 (0.17 s); 3: 238,644 (2.7 s);
	//     4: 2,523,654 (27 s).
	// We run the largest bound that costs about a second or three.
	bounded := func(s explore.Scenario, bound int) {
		rows = append(rows, exploration{scenario: s, impl: realWord, opts: explore.Options{Preemptions: bound}})
	}
	bounded(sendersScenario("ctseq/three-senders-1", realWord, sendersConfig{senders: [][]int{{0}, {ctseq.WorkBits - 1}, {7}}, rounds: 2}), 4)
	bounded(sendersScenario("ctseq/three-senders", realWord, threeSenders), 3)
	return rows
}

// TestCtseqExplore runs every scenario over ctseq.Word, exhaustively or
// within the stated bound, requiring 0 violations. Run it with -v for the
// figures:
//
//	ctseq/two-senders: N interleavings (bound=none), 0 violations
//
// Mutants caught (verify/mutants/catalogue.txt): setwork-two-atomic,
// setwork-ignores-state, setwork-ignores-state-blind, userenter-keeps-seq,
// userenter-keeps-seq-grace, userenter-keeps-seq-narrow.
func TestCtseqExplore(t *testing.T) {
	for _, x := range explorations() {
		t.Run(x.scenario.Name+"/"+x.impl.name, func(t *testing.T) {
			exploreAndReport(t, x.scenario, x.opts, "")
		})
	}
}

// TestCtseqExploreBounded runs the small scenarios over ctseq.Word with a
// preemption bound of 2, requiring 0 violations: the catalogue's word
// mutants that select it (setwork-two-atomic-bounded) show how few
// preemptions a real bug needs, as loom and CHESS found for most.
func TestCtseqExploreBounded(t *testing.T) {
	for _, x := range explorations() {
		if x.opts.Preemptions != 0 {
			continue
		}
		t.Run(x.scenario.Name+"/"+x.impl.name, func(t *testing.T) {
			exploreAndReport(t, x.scenario, explore.Options{Preemptions: 2}, "")
		})
	}
}

// TestCtseqExploreMisuse: a misuse panic of ctseq.Word inside a thread is a
// violation carrying the panic, not a crash of the test binary.
func TestCtseqExploreMisuse(t *testing.T) {
	s := explore.Scenario{Name: "misuse", Setup: func(r *explore.Run) {
		var w ctseq.Word
		r.Go("owner", func() { w.KernelEnter() }) // from Kernel: misuse
	}}
	res := explore.Explore(s, explore.Options{})
	var pe *explore.PanicError
	if !errors.As(res.Violation, &pe) || !strings.Contains(fmt.Sprint(pe.Value), "ctseq: Word.KernelEnter") {
		t.Fatalf("got %+v, want the KernelEnter misuse panic", res)
	}
}

// exploreAndReport runs one exploration of real code inside a subtest and
// reports it: any violation or an incomplete search fails the test, and the
// figures are logged as
//
//	<scenario>: N interleavings (bound=k), 0 violations (<label>, longest S steps, T)
//
// Under a mutant of the catalogue (go run ./internal/cmd/mutate), the
// violation is the catch: its error, schedule and trace are printed.
func exploreAndReport(t *testing.T, s explore.Scenario, o explore.Options, label string) {
	t.Helper()
	start := time.Now()
	res := explore.Explore(s, o)
	took := time.Since(start).Round(time.Millisecond)
	bound := "none"
	if o.Preemptions > 0 {
		bound = fmt.Sprint(o.Preemptions)
	}
	if v := res.Violation; v != nil {
		t.Fatalf("%s (%s): violation after %d interleavings: %v\nschedule=%v\n%s",
			s.Name, label, res.Schedules, v, v.Schedule, v.TraceString(0))
	}
	if !res.Complete {
		t.Fatalf("%s (%s): incomplete after %d interleavings", s.Name, label, res.Schedules)
	}
	if label != "" {
		label += ", "
	}
	t.Logf("%s: %d interleavings (bound=%s), 0 violations (%slongest %d steps, %v)",
		s.Name, res.Schedules, bound, label, res.Longest, took)
}
