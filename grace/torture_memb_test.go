package grace_test

import (
	"flag"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/grace"
)

var membTortureFor = flag.Duration("grace.membtorture", 10*time.Second, "duration of TestMembTorture's membarrier run, a quarter of it for the fenced run (500ms under -short)")

// TestMembTorture is rcutorture for the memb flavour, with 64 reader
// goroutines and no pinning: GOMAXPROCS is what it is, so readers are
// preempted and moved between threads inside their sections.
//
// Each reader loops: Lock, load the published object, read it for 1 to 64
// iterations (one section in 64 yields the processor inside, one in 1,024
// sleeps 50µs inside: a section may block), sometimes with a nested
// Lock/Unlock around part of it, Unlock. One section in 4,096 ends with an
// Unregister and a new Register (registrations concurrent with grace
// periods).
//
// The updater is the other torture tests' (tortureUpdates): it replaces
// the object, frees (poisons) every object it unpublished by Retire,
// Synchronize then free, or Start then free once Poll says so, Barrier now
// and then, and waits for everything at the end.
//
// Checks on every read: not poisoned, and the object's age in grace periods
// since its unpublishing (the "Reader Pipe"): 0 or 1 is legitimate, 2 or
// more is a bug. The run prints the counts and SUCCESS or FAILURE.
// Mutants caught: none.
func TestMembTorture(t *testing.T) {
	dur := *membTortureFor
	if testing.Short() {
		dur = 500 * time.Millisecond
	}
	for i, mode := range membModes {
		d := dur
		if i > 0 {
			d = dur / 4 // the fenced fallback: the same protocol with fences, a shorter run
		}
		t.Run(mode.name, func(t *testing.T) { membTorture(t, mode.make(grace.Options{MaxPending: 1024}), d) })
	}
}
