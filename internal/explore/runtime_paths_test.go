//go:build ctdefer_explore

package explore_test

// Scenarios for the runtime paths users depend on, beyond the delivery
// path of runtime_test.go: synchronous completion against the drain, IPIs
// inside kernel stretches, parking with run-on-behalf, and Close against
// posts and releases. Each states its property at the end of every schedule
// (or inside it, where a handler can see the violation); the mutation
// catalogue (verify/mutants/) holds the bugs each must catch.

import (
	"context"
	"errors"
	"fmt"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"strings"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
	"github.com/ctdefer/ctdefer/stats"
)

// newRuntime returns a Domain over CPUs 0 and 1 for a scenario.
func newRuntime(r *explore.Run) *ctdefer.Domain {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour})
	if err != nil {
		r.Fail(err)
	}
	return d
}

// register registers a work on d or fails the run.
func register(r *explore.Run, d *ctdefer.Domain, name string, h func(int), opts ...ctdefer.RegisterOption) ctdefer.Work {
	w, err := d.Register(name, h, opts...)
	if err != nil {
		r.Fail(err)
	}
	return w
}

// waitScenario: a waiter's DeferWait, Send or IPI against an owner that
// makes user/kernel round trips, polls, releases and closes the Domain.
// Property (completion follows the run, for synchronous callers): a wait that returns nil returns
// after its handler ran; one that returns an error wrapping ErrClosed was
// handed back, and its handler never runs; the handler runs at most once.
// Handlers check that they run inside a kernel stretch of the word (handlers run in a kernel stretch of their
// target: a
// grace-period scan never sees the CPU quiescent while a handler runs).
//
// With timed, the wait has a deadline (kind "deferwait": the Domain's
// IPITimeout; "ipi": the context's) and is explored with
// explore.Options.Timeouts, so its time may run out at any step. Late, never lost: a wait
// that timed out reports the cause (ErrIPITimeout, or the context's
// context.DeadlineExceeded) and its delivery is late, never lost: by the
// end the handler ran once or Close handed the work back, exactly one of
// the two. A timed-out DeferWait also asks whether the owner is gone (the
// reclaim check of its slow path): a live owner must never be reclaimed.
func waitScenario(kind string, rounds int, timed bool) explore.Scenario {
	name := "runtime/wait-" + kind
	if timed {
		name += "-timeout"
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d := newRuntime(r)
		ran, ranAtReturn := 0, -1
		stateInHandler := ctseq.Kernel
		var touched atomicx.Uint64 // the handler's own shared memory: a scheduling point inside it
		w := register(r, d, "item", func(cpu int) {
			touched.Add(1)
			ran++
			explore.Atomically(func() {
				if st := corelink.Of[ctdefer.CPU](d).State(cpu); st != ctseq.Kernel {
					stateInHandler = st
				}
			})
		})
		var werr, cerr error
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if err != nil {
				r.Fail(err)
			}
			for range rounds {
				c.UserEnter()
				c.Poll()
				c.KernelEnter()
			}
			c.Poll()
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
			// Hands back whatever reached the mailbox after Release.
			cerr = d.Close(context.Background())
		})
		r.Go("waiter", func() {
			ctx := context.Background()
			if timed && kind != "deferwait" {
				// Far away: only the explorer ends the wait early.
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Hour))
				defer cancel()
			}
			switch kind {
			case "deferwait":
				werr = d.DeferWait(ctx, 0, w)
			case "send":
				_, werr = d.Send(ctx, 0, w)
			case "ipi":
				werr = d.IPI(ctx, 0, w)
			}
			ranAtReturn = ran
		})
		r.Check(func() error {
			handed := 0
			var ue *ctdefer.UndeliveredError
			if errors.As(cerr, &ue) {
				for _, p := range ue.Pending {
					if p.CPU == 0 && p.Work == w {
						handed++
					}
				}
			}
			timedOut := errors.Is(werr, ctdefer.ErrIPITimeout) || errors.Is(werr, context.DeadlineExceeded)
			// Without a deadline, a wait that finds no worker on the CPU
			// (the owner released it) says so at once: its delivery is
			// late, never lost, as a timed-out one's.
			notClaimed := errors.Is(werr, ctdefer.ErrNotClaimed)
			switch {
			case stateInHandler != ctseq.Kernel:
				return fmt.Errorf("kernel-stretch: a handler ran while the word said %v", stateInHandler)
			case ran > 1:
				return fmt.Errorf("exactly-once: the handler ran %d times", ran)
			case cerr != nil && ue == nil:
				return fmt.Errorf("Close: unexpected error %v", cerr)
			case werr == nil && kind != "send" && ranAtReturn != 1:
				return fmt.Errorf("completion-follows-run: %s returned nil before its handler ran (ran %d times at return)", kind, ranAtReturn)
			case timedOut && !timed:
				return fmt.Errorf("%s: timed out without a deadline: %v", kind, werr)
			case timedOut && ran+handed != 1:
				return fmt.Errorf("late-never-lost: %s timed out, then its handler ran %d times and Close handed it back %d times: %v", kind, ran, handed, werr)
			case timedOut:
			case notClaimed && ran+handed != 1:
				return fmt.Errorf("late-never-lost: %s found no worker, then its handler ran %d times and Close handed it back %d times: %v", kind, ran, handed, werr)
			case notClaimed:
			case werr != nil && !errors.Is(werr, ctdefer.ErrClosed):
				return fmt.Errorf("%s: unexpected error %v", kind, werr)
			case werr != nil && ran != 0:
				return fmt.Errorf("exactly-once: %s reported its work handed back, but it ran: %v", kind, werr)
			case werr == nil && ran != 1:
				return fmt.Errorf("exactly-once: %s delivered, but the handler ran %d times by the end", kind, ran)
			}
			return nil
		})
	}}
}

// parkScenario: an owner that parks in Idle until its work has run or the
// Domain closes, and a sender that delivers one item (RemoteSafe or not)
// with Defer (and, for RemoteSafe work, then closes the Domain). Properties: no lost wake-up (the
// explorer reports a run in which the owner sleeps on its futex with no wake
// to come); the item runs exactly once; the word has one owner at a time (a
// run on behalf that overlapped the owner's own transitions would make an
// owner transition from the wrong state, which panics).
func parkScenario(remoteSafe bool) explore.Scenario {
	name := "runtime/park"
	var opts []ctdefer.RegisterOption
	if remoteSafe {
		name += "-remote-safe"
		opts = append(opts, ctdefer.RemoteSafe())
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d := newRuntime(r)
		ran := 0
		w := register(r, d, "item", func(int) { ran++ }, opts...)
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if errors.Is(err, ctdefer.ErrClosed) {
				return // the sender closed first: the item is handed back
			} else if err != nil {
				r.Fail(err)
			}
			for ran == 0 {
				if err := c.Idle(context.Background()); errors.Is(err, ctdefer.ErrClosed) {
					break
				} else if err != nil {
					r.Fail(err)
				}
			}
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
		})
		var cerr error
		r.Go("sender", func() {
			if _, err := d.Defer(0, w); err != nil {
				r.Fail(err)
			}
			if remoteSafe {
				// Work run on behalf does not wake the owner (that is its
				// point): Close does. Without RemoteSafe only the IPI's
				// wake-up can end the owner's sleep, so a lost one shows.
				cerr = d.Close(context.Background())
			}
		})
		r.Check(func() error {
			back := 0
			var ue *ctdefer.UndeliveredError
			if errors.As(cerr, &ue) {
				back = len(ue.Pending)
			} else if cerr != nil {
				return fmt.Errorf("Close: %v", cerr)
			}
			if ran+back != 1 {
				return fmt.Errorf("exactly-once: the item ran %d times and was handed back %d times", ran, back)
			}
			return nil
		})
	}}
}

// closeScenario: senders deliver to CPU 1, which an owner claims, runs one
// round trip on and releases (withOwner), or which nobody claims, while a
// closer closes the Domain. Property (nothing lost, nothing twice): every
// delivery that Defer accepted either ran exactly once or is listed once in
// Close's UndeliveredError, never both; and a delivery accepted before the
// owner began its Release is run by that Release, not handed back.
func closeScenario(withOwner, remoteSafe bool) explore.Scenario {
	name := "runtime/close-vs-post"
	if withOwner {
		name = "runtime/close-vs-release"
	}
	var opts []ctdefer.RegisterOption
	if remoteSafe {
		name += "-remote-safe"
		opts = append(opts, ctdefer.RemoteSafe())
	}
	senders := 2
	if withOwner {
		senders = 1 // the owner's round trip and Release are the interesting part
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d := newRuntime(r)
		ran := make([]int, senders)
		accepted := make([]bool, senders)
		beforeRelease := make([]bool, senders)
		works := make([]ctdefer.Work, senders)
		for i := range senders {
			works[i] = register(r, d, fmt.Sprint("item", i), func(int) { ran[i]++ }, opts...)
		}
		var cerr error
		closed := false
		if withOwner {
			r.Go("owner", func() {
				c, err := d.Claim(1)
				if err != nil {
					return // the closer came first
				}
				c.UserEnter()
				c.KernelEnter()
				copy(beforeRelease, accepted)
				if err := c.Release(); err != nil {
					r.Fail(err)
				}
			})
		}
		for i := range senders {
			r.Go(fmt.Sprint("sender", i), func() {
				_, err := d.Defer(1, works[i])
				switch {
				case err == nil:
					accepted[i] = true
				case !errors.Is(err, ctdefer.ErrClosed):
					r.Fail(err)
				}
			})
		}
		r.Go("closer", func() {
			cerr = d.Close(context.Background())
			closed = true
		})
		r.Check(func() error {
			if !closed {
				return fmt.Errorf("Close did not return")
			}
			back := make([]int, senders)
			var ue *ctdefer.UndeliveredError
			if errors.As(cerr, &ue) {
				for _, p := range ue.Pending {
					var i int
					if _, err := fmt.Sscanf(p.Work.String(), "item%d", &i); err != nil {
						return err
					}
					back[i]++
				}
			} else if cerr != nil {
				return fmt.Errorf("Close: %v", cerr)
			}
			for i := range senders {
				switch {
				case !accepted[i] && ran[i]+back[i] != 0:
					return fmt.Errorf("item %d was refused but ran %d times, handed back %d times", i, ran[i], back[i])
				case accepted[i] && ran[i]+back[i] != 1:
					return fmt.Errorf("exactly-once: item %d was accepted; it ran %d times and was handed back %d times", i, ran[i], back[i])
				case beforeRelease[i] && ran[i] != 1:
					return fmt.Errorf("item %d was delivered before Release began, but Release did not run it (handed back %d)", i, back[i])
				}
			}
			return nil
		})
	}}
}

// claimAndOpenWindow is the start of the window scenarios' owner: it claims
// CPU 0, enters user mode (then sets *inUser), waits for an IPI to be
// posted and handles it at a Poll, in an interrupt window (unless UserEnter
// took it).
func claimAndOpenWindow(r *explore.Run, d *ctdefer.Domain, inUser *bool) *ctdefer.CPU {
	c, err := d.Claim(0)
	if err != nil {
		r.Fail(err)
	}
	c.UserEnter()
	*inUser = true
	explore.Wait(func() bool {
		return d.Stats().CPUs[0].IPIs > 0 // CPU 0
	})
	c.Poll()
	return c
}

// windowScenario: an owner in user mode handles one IPI at a Poll (an
// interrupt window: a short kernel stretch opened from user mode), while a
// sender delivers two different items with Defer. Property: no IPI storm: the
// owner stays in user mode, windows aside, until the sender is done, so
// every Defer must end deferred: a sender that meets the window waits for it
// to close instead of posting the IPI that would open the next one. And exactly-once delivery:
// each item runs exactly once (at a later window or the final kernel entry).
func windowScenario() explore.Scenario {
	return explore.Scenario{Name: "runtime/interrupt-window", Setup: func(r *explore.Run) {
		d := newRuntime(r)
		ran := make([]int, 2)
		items := []ctdefer.Work{
			register(r, d, "item0", func(int) { ran[0]++ }),
			register(r, d, "item1", func(int) { ran[1]++ }),
		}
		kick := register(r, d, "kick", func(int) {})
		inUser, senderDone := false, false
		var hows []ctdefer.Delivery
		r.Go("owner", func() {
			c := claimAndOpenWindow(r, d, &inUser)
			explore.Wait(func() bool { return senderDone })
			c.KernelEnter() // runs the deferred items
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
		})
		r.Go("kicker", func() {
			// A deadline (far away: only the explorer ends a wait): the
			// kick may come before the owner's Claim, and waits for it.
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			defer cancel()
			if err := d.IPI(ctx, 0, kick); err != nil {
				r.Fail(err)
			}
		})
		r.Go("sender", func() {
			explore.Wait(func() bool { return inUser })
			for _, w := range items {
				how, err := d.Defer(0, w)
				if err != nil {
					r.Fail(err)
				}
				hows = append(hows, how)
			}
			senderDone = true
		})
		r.Check(func() error {
			for i, how := range hows {
				if how != ctdefer.Deferred {
					return fmt.Errorf("ipi-storm: Defer %d to an owner in user mode (windows aside) was delivered by %v", i, how)
				}
			}
			for i, n := range ran {
				if n != 1 {
					return fmt.Errorf("exactly-once: item %d, deferred once, ran %d times", i, n)
				}
			}
			return nil
		})
	}}
}

// windowTicketScenario: a waiter whose DeferWait meets an interrupt window
// (refused in the window's Kernel word, it waits for the window to close
// and tries the deferral CAS again) must wait for the entry that serves the word its
// retry succeeded in, not the one after the word that refused it. The owner
// makes a window, then a kernel entry that drains another work (published
// as done for the waiter's sake), then returns to user mode, so a retry can
// succeed two transitions after the refusal. Property (completion follows the run) for synchronous
// callers: DeferWait returns nil only after its item ran.
func windowTicketScenario() explore.Scenario {
	return explore.Scenario{Name: "runtime/interrupt-window-ticket", Setup: func(r *explore.Run) {
		d := newRuntime(r)
		ran := map[string]int{}
		handler := func(name string) func(int) { return func(int) { ran[name]++ } }
		item := register(r, d, "item", handler("item")) // bit 0
		other := register(r, d, "other", handler("other"))
		kick := register(r, d, "kick", handler("kick"))
		inUser, kickerDone, waiterDone := false, false, false
		ranAtReturn := -1
		var werr error
		stats := func() stats.CPU { return d.Stats().CPUs[0] } // CPU 0
		r.Go("owner", func() {
			c := claimAndOpenWindow(r, d, &inUser)
			explore.Wait(func() bool { return kickerDone })
			c.KernelEnter() // drains other: its completion is published for the waiter
			c.UserEnter()
			explore.Wait(func() bool {
				snap, _ := corelink.Of[ctdefer.CPU](d).Snapshot(0)
				st := stats()
				return waiterDone || snap.Work().Has(0) || st.IPIs > st.IPIRuns
			})
			c.Poll()
			c.KernelEnter()
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
		})
		r.Go("kicker", func() {
			// A deadline (far away: only the explorer ends a wait): the
			// kick may come before the owner's Claim, and waits for it.
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			defer cancel()
			if err := d.IPI(ctx, 0, kick); err != nil {
				r.Fail(err)
			}
			if _, err := d.Defer(0, other); err != nil {
				r.Fail(err)
			}
			kickerDone = true
		})
		r.Go("waiter", func() {
			explore.Wait(func() bool { return inUser })
			werr = d.DeferWait(context.Background(), 0, item)
			ranAtReturn = ran["item"]
			waiterDone = true
		})
		r.Check(func() error {
			if werr != nil {
				return fmt.Errorf("DeferWait: %v", werr)
			}
			if ranAtReturn != 1 {
				return fmt.Errorf("completion-follows-run: DeferWait returned nil when its item had run %d times", ranAtReturn)
			}
			for name, n := range ran {
				if n != 1 {
					return fmt.Errorf("exactly-once: %s, delivered once, ran %d times", name, n)
				}
			}
			return nil
		})
	}}
}

// TestRuntimePathsExplore runs the scenarios above over the real code.
// Mutants caught: explore-completion-before-handler, explore-ipi-after-user-enter, explore-kill-load-store, explore-reclaim-live-owner, unclaimed-no-recheck, waiter-registers-late, window-announced-late, window-assumes-delivery, window-not-announced, window-retry-keeps-refused-ticket.
func TestRuntimePathsExplore(t *testing.T) {
	for _, tc := range []struct {
		s     explore.Scenario
		bound int
	}{
		{waitScenario("deferwait", 1, false), 3},
		{waitScenario("send", 1, false), 3},
		{waitScenario("ipi", 1, false), 3},
		{waitScenario("deferwait", 1, true), 3},
		{waitScenario("ipi", 1, true), 3},
		{windowScenario(), 3},
		{windowTicketScenario(), 2},
		{parkScenario(false), 3},
		{parkScenario(true), 3},
		{closeScenario(false, false), 3},
		{closeScenario(false, true), 3},
		{closeScenario(true, false), 3},
		{closeScenario(true, true), 3},
	} {
		t.Run(tc.s.Name, func(t *testing.T) {
			o := explore.Options{Preemptions: tc.bound, Timeouts: strings.HasSuffix(tc.s.Name, "-timeout")}
			exploreAndReport(t, tc.s, o, "")
		})
	}
}
