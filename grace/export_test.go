package grace

import (
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// GracePeriodsCompleted is the number of grace periods completed (one load
// of ctl; Stats also takes the reclaimer's lock), for the torture test's
// staleness histogram.
func (g *Domain) GracePeriodsCompleted() uint64 {
	return g.s.seqNow() / 2 // load: pairs with the driver's end store
}

// EngineState returns a digest (FNV-1a) of every word the engine's Poll
// reads besides the CPUs' context-tracking words: ctl (seq and drive), need, each
// CPU's handler-written fields, and each CPU's claimed flag, which Claim and
// Release change without touching the word. The explorer scenarios
// (explore_test.go) wait until it or a CPU's word changes where a real
// waiter whose Poll failed would sleep and poll again.
func (g *Domain) EngineState() uint64 { return g.s.engineState() }

func (g *stretch) engineState() uint64 {
	h := uint64(14695981039346656037) // FNV-1a over the words
	mix := func(v uint64) {
		h = (h ^ v) * 1099511628211
	}
	mix(g.ctl.Load()) // seq and drive
	mix(g.need.Load())
	for i := range g.per {
		st := &g.per[i]
		mix(st.seenGP.Load())
		mix(st.back.Load())
		mix(uint64(st.asked.Load()))
		claimed := uint64(0)
		if g.v.Claimed(g.cpus.List()[i]) {
			claimed = 1
		}
		mix(claimed)
	}
	return h
}

// SetQSBRMaxSleep sets the cap on a QSBR waiter's futex sleep and returns a
// function that restores it: with a long cap, only a wake-up ends a sleep.
func SetQSBRMaxSleep(d time.Duration) (restore func()) {
	old := maxSleep
	maxSleep = d
	return func() { maxSleep = old }
}

// QSBRStarted is the number of grace periods q has started (one load of
// gp), for the explorer scenarios that wait for a grace period to begin.
func QSBRStarted(q *Domain) uint64 { return q.q.gp.Load() }

// QSBRCompleted is the number of grace periods q has completed (one load
// of done), for the QSBR torture test's staleness histogram.
func QSBRCompleted(q *Domain) uint64 { return q.q.done.Load() }

// LaggardsHere reports whether a reader holding the grace period in
// progress registered on the caller's CPU, and whether every one did (the
// wait policy's sleep test).
func (g *Domain) LaggardsHere() (here, only bool) { return g.q.laggardsHere() }

// IsOnline reports whether the reader is online: between Domain.Reader (or
// Online) and Offline (rcu_read_ongoing). Owner only.
func (r *Reader) IsOnline() bool { return !r.off }

// CPU returns the reader's CPU.
func (r *Reader) CPU() int { return r.cpu }

// String is the CPU's part of StallError's text.
func (c StalledCPU) String() string { return c.describe() }

// CheckLoads reports whether this build compiles Pointer.Load's Debug
// check (race-detector builds and the tag ctdefer_debug).
const CheckLoads = checkLoads

// Quiesce declares a quiescent state on the owner's CPU c, in kernel mode:
// what Checkpoint does when a grace period has asked.
func (g *Domain) Quiesce(c *ctdefer.CPU) { g.s.v.Quiesce(c, "grace test Quiesce") }

// CPUState returns cpu's context-tracking state in d.
func CPUState(d *ctdefer.Domain, cpu int) ctseq.State {
	return corelink.Of[ctdefer.CPU](d).State(cpu)
}

// Instrumented reports whether this is the interleaving explorer's build
// (ctdefer_explore): its atomics allocate, and its waits do not reap exited
// owners.
const Instrumented = atomicx.Instrumented

// NewMembFenced is NewMemb without membarrier: the read side fences
// (liburcu's mb flavour), as where membarrier is missing.
func NewMembFenced(opts Options) *Domain { return &Domain{m: newMemb(opts, false)} }

// SetMembStallWarn sets how long a memb wait waits before it logs the
// readers holding it, and returns a function that restores it.
func SetMembStallWarn(d time.Duration) (restore func()) {
	old := stallWarnAfter
	stallWarnAfter = d
	return func() { stallWarnAfter = old }
}

// MembStarted is the number of grace periods g (memb) has started.
func MembStarted(g *Domain) uint64 { return g.m.gp.Load() }

// MembCompleted is the number of grace periods g (memb) has completed.
func MembCompleted(g *Domain) uint64 { return g.m.done.Load() }

// MembState returns a digest (FNV-1a) of every word a memb Poll reads:
// gp, done, the drive lock's and registry's state and each reader's word.
// The explorer scenarios wait until it changes where a real waiter whose
// Poll failed would sleep and poll again. It reads the registry without
// its lock: under the explorer one thread runs at a time.
func MembState(g *Domain) uint64 {
	m := g.m
	h := uint64(14695981039346656037)
	mix := func(v uint64) { h = (h ^ v) * 1099511628211 }
	mix(m.gp.Peek())
	mix(m.done.Peek())
	mix(m.drive.Peek())
	mix(m.mu.Peek())
	mix(uint64(len(m.readers)))
	for _, r := range m.readers {
		mix(r.ctr.Peek())
	}
	return h
}

// Completed reports whether the grace period of t is over without driving
// anything (one load): what Poll answers first, for tests that must not
// move the engine while they look.
func (g *Domain) Completed(t Token) bool {
	switch {
	case g.s != nil:
		return g.s.Completed(t)
	case g.q != nil:
		return g.q.Completed(t)
	}
	return g.m.Completed(t)
}
