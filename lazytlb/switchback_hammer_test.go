package lazytlb_test

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSwitchBackLosesNoFlushes: under real concurrency, an owner going lazy
// and back in a loop while a flusher shoots down never uses the address
// space below a generation whose shootdown has returned (no stale
// translation). The plain read-then-store switch back of Rik van Riel's 2016
// patch "make lazy TLB mode even lazier" loses flushes here:
// switch-back-plain-store-hammer in verify/mutants/catalogue.txt applies it
// to lazytlb and requires this test to fail.
// Mutant caught: switch-back-plain-store-hammer.
func TestSwitchBackLosesNoFlushes(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the race needs two CPUs running at once")
	}
	defer runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	// The race needs the flusher's CAS to land between the owner's load and
	// store, with both running at once: on a loaded machine a mutant may
	// take millions of switches to show it, so the run is bounded by time.
	d := 3 * time.Second
	if testing.Short() || raceEnabled {
		d = 2 * time.Second
	}
	lost, switches := lostFlushes(newRealSwitch(t), math.MaxInt, d)
	t.Logf("lazytlb: %d lost flushes in %d switches", lost, switches)
	require.Zero(t, lost, "lazytlb lost flushes in %d switches", switches)
}
