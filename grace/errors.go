package grace

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// ErrBacklog is the error of a TryRetire that found Options.MaxPending
// callbacks waiting; test with errors.Is. A wait that its context ended
// (some CPU or reader had not passed the quiescent state or poll point it
// needed) returns a *StallError naming them: test with errors.As. Bad
// arguments give a *ctdefer.ArgError (ctdefer.ErrInvalid); a call after
// Close wraps ctdefer.ErrClosed; Barrier or Close from a retired callback,
// which would wait for itself, wraps ctdefer.ErrWouldDeadlock.
var ErrBacklog = errors.New("grace: too many retired callbacks pending")

// nilContext is the error of a wait given a nil context.
func nilContext(op string) error { return nilArg("grace."+op, "ctx") }

// nilArg is the error of a call given a nil arg where it needs a value.
func nilArg(call, arg string) error {
	return &ctdefer.ArgError{Call: call, Arg: arg, Reason: "nil"}
}

// StallError describes a wait that its context ended: which CPUs it was
// still waiting for and what each was doing. It unwraps to the context's
// error (errors.Is(err, context.DeadlineExceeded)); find it with errors.As.
type StallError struct {
	Op     string        // "Synchronize", "Barrier", "ExpeditedBarrier", "Close"
	Waited time.Duration // how long the caller waited
	CPUs   []StalledCPU  // the CPUs holding it up (empty if none was recorded)
	Err    error         // the context's error
}

// StalledCPU is one CPU (or, in the memb flavour, one reader) that held up
// a grace period or a barrier.
type StalledCPU struct {
	CPU     int
	State   ctseq.State // its state when the error was built
	Seq     uint64      // its word's sequence then
	SnapSeq uint64      // its word's sequence when the wait snapshotted it
	// Nudged: the grace period posted it a nudge (or the barrier an IPI).
	// False if none was due yet (Options.NudgeAfter), or none could be
	// posted because the ctdefer.Domain is closing.
	Nudged bool
	// Handled: the nudge ran, at one of its poll points: the owner polls,
	// but did not reach a Checkpoint, Quiesce or transition since. Always
	// false for ExpeditedBarrier, whose wait for a CPU ends when its IPI
	// is handled.
	Handled bool

	// Reader: the CPU is a reader of a QSBR domain that has not reported
	// since the grace period began (State, Seq and SnapSeq then describe
	// its context-tracking word now).
	Reader bool
	// LastReport is the QSBR grace-period count at the reader's last
	// report (Online, Quiescent), or the memb grace-period count when the
	// reader's section began; GracePeriod the one it holds up.
	LastReport, GracePeriod uint64

	// Site (memb flavour) is where the reader's Handle was registered
	// (file:line); CPU is then -1, and State, Seq and SnapSeq are zero.
	Site string
	// Dropped (memb flavour): the Handle was collected inside its section,
	// without Unlock: it holds every later grace period up for good.
	Dropped bool
}

// describe is the CPU's part of StallError's text.
func (c StalledCPU) describe() string {
	var b strings.Builder
	if c.Site != "" {
		fmt.Fprintf(&b, "memb reader registered at %s (inside a read-side section since grace period %d, waiting for %d: ", c.Site, c.LastReport, c.GracePeriod)
		if c.Dropped {
			b.WriteString("its Handle was dropped inside the section, without Unlock: it holds every grace period for good)")
		} else {
			b.WriteString("the goroutine holding its Handle has not called Unlock)")
		}
		return b.String()
	}
	if c.Reader {
		fmt.Fprintf(&b, "CPU %d (QSBR reader online, in %v: last quiescent report at grace period %d, waiting for %d: "+
			"the owner does not call Reader.Quiescent, or claimed the CPU without Domain.Reader)", c.CPU, c.State, c.LastReport, c.GracePeriod)
		return b.String()
	}
	fmt.Fprintf(&b, "CPU %d (in %v at sequence %d since the snapshot at %d", c.CPU, c.State, c.Seq, c.SnapSeq)
	switch {
	case c.Seq != c.SnapSeq:
		b.WriteString(", moved since: it is about to be seen")
	case c.Handled:
		b.WriteString(", nudge handled at a poll point: the owner polls but reports no quiescent state (call Checkpoint, Quiesce, UserEnter or Idle)")
	case c.Nudged:
		b.WriteString(", nudged, nudge not handled: the owner does not poll")
	default:
		b.WriteString(", not nudged: none due, or the ctdefer.Domain is closing")
	}
	b.WriteByte(')')
	return b.String()
}

func (e *StallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grace: %s: still waiting after %v", e.Op, e.Waited.Round(time.Microsecond))
	if len(e.CPUs) == 0 {
		b.WriteString(" (no CPU recorded as holding it up)")
	}
	for i, c := range e.CPUs {
		if i == 0 {
			b.WriteString(" for ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(c.describe())
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the context's error.
func (e *StallError) Unwrap() error { return e.Err }
