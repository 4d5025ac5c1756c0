package lazytlb_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/lazytlb"
)

// The checker of the issue: each address space has a shared version number
// (the "page table"); each CPU's cached translation records the version it
// was filled at, and the flush callback refills it. A flusher bumps the
// version and then shoots down; once Shootdown has returned, the version is
// "completed", and any CPU that uses the address space must observe a
// cached version at least that new. Workers pinned to their CPUs switch
// between the address spaces, lazy mode and other work (Leave) while the
// flushers shoot down.

// TestHammerChecker: under every policy, no CPU ever uses an address space
// at a version older than a completed shootdown's. Run it under -race too.
// Mutants caught: none.
func TestHammerChecker(t *testing.T) {
	cpus := upToCPUs(t, 2)
	// Pinned workers spin on their CPUs holding a P each: leave Ps for the
	// flushers and the runtime.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(6, runtime.GOMAXPROCS(0))))
	dur := time.Second
	if testing.Short() || raceEnabled {
		dur = 200 * time.Millisecond
	}
	for _, p := range []lazytlb.Policy{lazytlb.PolicyLazy, lazytlb.PolicyEager, lazytlb.PolicyFlushOnSwitch} {
		t.Run(p.String(), func(t *testing.T) {
			// Each round checks safety. The policy's own path (a lazy CPU
			// marked, an IPI sent, a lazy CPU skipped) is reached only when
			// the workers get the CPU while a shootdown runs: on a busy
			// machine that may take more rounds, never a failure. Rounds
			// go on until the path was taken (or 30 s have passed, and the
			// test says so).
			deadline := time.Now().Add(30 * time.Second)
			for round := 1; ; round++ {
				r := hammer(t, cpus, p, 2, dur)
				t.Logf("round %d: %v on CPUs %v: %d shootdowns, %d uses, %d stale; %v", round, p, cpus, r.shootdowns, r.uses, r.stale, r.stats)
				if hammerCovered(t, p, r) || !time.Now().Before(deadline) {
					return
				}
			}
		})
	}
}
