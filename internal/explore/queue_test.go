//go:build ctdefer_explore

package explore_test

// Scenarios for queues of values (ctdefer.Queue) over the real code: two
// senders against the owner's entry, and senders against Close. Each
// checks, at the end of every schedule, the queue's invariants
// (docs/design/delivery.md, Protocol: queues of values): each value runs
// exactly once or is handed back, one sender's values run in order, and a
// value refused (ErrFull, ErrClosed) never runs nor is listed.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/explore"
)

// queueSenders starts n senders that each send the batch {10i, 10i+1} to
// cpu, and records which were accepted.
func queueSenders(r *explore.Run, q *ctdefer.Queue[int], cpu, n int, accepted []bool, done *int) {
	for i := range n {
		r.Go(fmt.Sprint("sender", i), func() {
			_, err := q.Send(cpu, 10*i, 10*i+1)
			switch {
			case err == nil:
				accepted[i] = true
			case !errors.Is(err, ctdefer.ErrFull) && !errors.Is(err, ctdefer.ErrClosed):
				r.Fail(err)
			}
			*done++
		})
	}
}

// checkValues is the scenarios' final check: every accepted value ran once
// or was handed back once, never both; refused ones never appear; each
// sender's values ran in order.
func checkValues(ran []int, back []int, accepted []bool) error {
	count := map[int]int{}
	for _, v := range ran {
		count[v]++
	}
	for _, v := range back {
		count[v]++
	}
	for i, ok := range accepted {
		for _, v := range []int{10 * i, 10*i + 1} {
			switch {
			case ok && count[v] != 1:
				return fmt.Errorf("each value runs exactly once or is handed back: value %d accepted, ran or handed back %d times (ran %v, back %v)", v, count[v], ran, back)
			case !ok && count[v] != 0:
				return fmt.Errorf("value %d was refused but ran or was handed back %d times (ran %v, back %v)", v, count[v], ran, back)
			}
		}
	}
	last := map[int]int{}
	for _, v := range ran {
		if p, seen := last[v/10]; seen && p > v {
			return fmt.Errorf("one sender's values run in order: %v", ran)
		}
		last[v/10] = v
	}
	return nil
}

// queueEntryScenario: two senders each send a batch of two values to CPU 0
// (capacity 3: the second batch may be refused as full, whole) while its
// owner makes a user/kernel round trip with a Poll in user mode, then
// releases. Property: each value runs exactly once, on the owner (the ring
// has one consumer), in each sender's order; a refused batch never runs.
func queueEntryScenario() explore.Scenario {
	return explore.Scenario{Name: "queue/2-senders-entry", Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, IPITimeout: 1 << 62})
		if err != nil {
			r.Fail(err)
			return
		}
		var ran []int
		inHandler := false
		q, err := ctdefer.NewQueue(d, "values", 3, func(_ int, v int) {
			if inHandler {
				r.Fail(fmt.Errorf("the ring has one consumer: value %d runs inside another value's handler", v))
			}
			inHandler = true
			ran = append(ran, v)
			inHandler = false
		})
		if err != nil {
			r.Fail(err)
			return
		}
		accepted := make([]bool, 2)
		done := 0
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if err != nil {
				r.Fail(err)
				return
			}
			c.UserEnter()
			c.Poll()
			c.KernelEnter()
			explore.Wait(func() bool { return done == 2 })
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
		})
		queueSenders(r, q, 0, 2, accepted, &done)
		r.Check(func() error {
			if !accepted[0] && !accepted[1] {
				return fmt.Errorf("both batches refused: 4 places of 3 can hold one")
			}
			return checkValues(ran, nil, accepted)
		})
	}}
}

// queueCloseScenario: two senders send to CPU 1, which an owner claims,
// runs one round trip on and releases (withOwner), or which nobody claims,
// while a closer closes the Domain. Property: each accepted value ran
// exactly once or is listed once, with its value, in Close's
// UndeliveredError; a refused one is neither.
func queueCloseScenario(withOwner, remoteSafe bool) explore.Scenario {
	name := "queue/send-vs-close"
	if withOwner {
		name = "queue/send-vs-close-release"
	}
	var opts []ctdefer.RegisterOption
	if remoteSafe {
		name += "-remote-safe"
		opts = append(opts, ctdefer.RemoteSafe())
	}
	return explore.Scenario{Name: name, Setup: func(r *explore.Run) {
		d := newRuntime(r)
		var ran []int
		q, err := ctdefer.NewQueue(d, "values", 4, func(_ int, v int) { ran = append(ran, v) }, opts...)
		if err != nil {
			r.Fail(err)
			return
		}
		accepted := make([]bool, 2)
		done := 0
		if withOwner {
			r.Go("owner", func() {
				c, err := d.Claim(1)
				if err != nil {
					return // the closer came first
				}
				c.UserEnter()
				c.KernelEnter()
				if err := c.Release(); err != nil {
					r.Fail(err)
				}
			})
		}
		queueSenders(r, q, 1, 2, accepted, &done)
		var cerr error
		closed := false
		r.Go("closer", func() {
			cerr = d.Close(context.Background())
			closed = true
		})
		r.Check(func() error {
			if !closed {
				return fmt.Errorf("Close did not return")
			}
			var back []int
			var ue *ctdefer.UndeliveredError
			if errors.As(cerr, &ue) {
				for _, p := range ue.Pending {
					v, ok := p.Value.(int)
					if !ok || p.Work.String() != "values" || !errors.Is(p.Err, ctdefer.ErrClosed) {
						return fmt.Errorf("Close lists %+v: want a value of the queue, handed back with ErrClosed", p)
					}
					back = append(back, v)
				}
			} else if cerr != nil {
				return fmt.Errorf("Close: %v", cerr)
			}
			if remoteSafe && len(back) != 0 {
				return fmt.Errorf("Close handed back %v of a RemoteSafe queue instead of running them", back)
			}
			return checkValues(ran, back, accepted)
		})
	}}
}

// queueWaitScenario: a waiter's SendWait against an owner that makes a
// user/kernel round trip with a Poll in user mode and releases, then a
// Close. Property (completion follows the run): SendWait returns nil only
// after its value's handler has returned; an error wrapping ErrClosed only
// for a value Close handed back, which never runs; the value runs at most
// once.
func queueWaitScenario() explore.Scenario {
	return explore.Scenario{Name: "queue/send-wait", Setup: func(r *explore.Run) {
		d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, IPITimeout: 1 << 62})
		if err != nil {
			r.Fail(err)
			return
		}
		ran, ranAtReturn := 0, -1
		var touched atomicx.Uint64 // the handler's own shared memory: a scheduling point inside it
		q, err := ctdefer.NewQueue(d, "values", 2, func(int, int) {
			touched.Add(1)
			ran++
		})
		if err != nil {
			r.Fail(err)
			return
		}
		released, back := false, 0
		var werr error
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if err != nil {
				r.Fail(err)
				return
			}
			c.UserEnter()
			c.Poll()
			c.KernelEnter()
			if err := c.Release(); err != nil {
				r.Fail(err)
			}
			released = true
		})
		r.Go("waiter", func() {
			werr = q.SendWait(context.Background(), 0, 1)
			ranAtReturn = ran
		})
		r.Go("closer", func() {
			explore.Wait(func() bool { return released })
			var ue *ctdefer.UndeliveredError
			if err := d.Close(context.Background()); errors.As(err, &ue) {
				back = len(ue.Pending)
			} else if err != nil {
				r.Fail(err)
			}
		})
		r.Check(func() error {
			switch {
			case werr == nil && ranAtReturn != 1:
				return fmt.Errorf("completion follows the run: SendWait returned nil when its value had run %d times", ranAtReturn)
			case werr != nil && !errors.Is(werr, ctdefer.ErrClosed):
				return fmt.Errorf("SendWait: %v", werr)
			case werr != nil && !strings.Contains(werr.Error(), "handed back") && ran+back != 0:
				return fmt.Errorf("SendWait was refused (%v), but its value ran %d times and was listed %d times", werr, ran, back)
			case werr != nil && strings.Contains(werr.Error(), "handed back") && (ran != 0 || back != 1):
				return fmt.Errorf("SendWait returned %v, but its value ran %d times and was listed %d times", werr, ran, back)
			case werr == nil && ran+back != 1:
				return fmt.Errorf("the value ran %d times and was handed back %d times", ran, back)
			}
			return nil
		})
	}}
}

// queueParkScenario: an owner that parks in Idle until the Domain closes,
// and two senders that each send a batch of two values to a RemoteSafe
// queue (run on the parked CPU's behalf, or by IPI when the owner is not
// parked), then a closer. Property (the ring has one consumer, with the
// park protocol's borrows exclude the owner): no value's handler runs
// inside another's, every accepted value runs exactly once (nothing is
// handed back: the queue is RemoteSafe), each sender's in order.
func queueParkScenario() explore.Scenario {
	return explore.Scenario{Name: "queue/park-remote-safe", Setup: func(r *explore.Run) {
		d := newRuntime(r)
		var ran []int
		inHandler := false
		q, err := ctdefer.NewQueue(d, "values", 4, func(_ int, v int) {
			if inHandler {
				r.Fail(fmt.Errorf("the ring has one consumer: value %d runs inside another value's handler", v))
			}
			inHandler = true
			ran = append(ran, v)
			inHandler = false
		}, ctdefer.RemoteSafe())
		if err != nil {
			r.Fail(err)
			return
		}
		accepted := make([]bool, 2)
		done := 0
		r.Go("owner", func() {
			c, err := d.Claim(0)
			if errors.Is(err, ctdefer.ErrClosed) {
				return
			} else if err != nil {
				r.Fail(err)
				return
			}
			for {
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
		queueSenders(r, q, 0, 2, accepted, &done)
		var cerr error
		r.Go("closer", func() {
			explore.Wait(func() bool { return done == 2 })
			cerr = d.Close(context.Background())
		})
		r.Check(func() error {
			if cerr != nil {
				return fmt.Errorf("Close: %v (a RemoteSafe queue hands nothing back)", cerr)
			}
			return checkValues(ran, nil, accepted)
		})
	}}
}

// TestQueueExplore runs the scenarios above over the real code.
// Mutants caught: explore-queue-reserve-load-store, explore-queue-close-no-kill,
// explore-queue-close-no-wait, explore-queue-borrow-ignores-owner, queue-head-before-handler.
func TestQueueExplore(t *testing.T) {
	for _, tc := range []struct {
		s     explore.Scenario
		bound int
	}{
		{queueEntryScenario(), 3},
		{queueWaitScenario(), 3},
		{queueParkScenario(), 2},
		{queueCloseScenario(false, false), 3},
		{queueCloseScenario(false, true), 3},
		{queueCloseScenario(true, false), 2},
	} {
		t.Run(tc.s.Name, func(t *testing.T) {
			exploreAndReport(t, tc.s, explore.Options{Preemptions: tc.bound}, "")
		})
	}
}
