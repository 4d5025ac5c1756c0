package ctdefer_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// The snapshot carries the Go runtime's noise: each owner thread's context
// switches (a locked thread that sleeps n times has at least n more
// voluntary ones; a CPU no worker holds shows none) and the process's GC
// cycles and stop-the-world time, which two collections advance.
// Mutants caught: stats-no-owner-switches, stats-no-gc-cycles.
func TestStatsGoRuntimeNoise(t *testing.T) {
	d := edgeDomain(t)
	o := startOwner(t, d, 1)
	before := d.Stats()
	o.do(func(*ctdefer.CPU) {
		for range 5 {
			// The owner's locked thread blocks in the kernel: a nanosleep
			// always schedules it out, one voluntary switch each. (A
			// time.Sleep parks the goroutine, and its thread may find the
			// wake-up already there and not switch.)
			ts := syscall.NsecToTimespec(int64(time.Millisecond))
			for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
			}
		}
	})
	runtime.GC()
	runtime.GC()
	after := d.Stats()
	require.Zero(t, after.CPUs[0].OwnerVoluntarySwitches, "CPU 0: no worker, no thread")
	require.Zero(t, after.CPUs[0].OwnerInvoluntarySwitches)
	require.GreaterOrEqual(t, after.CPUs[1].OwnerVoluntarySwitches-before.CPUs[1].OwnerVoluntarySwitches, uint64(5),
		"five sleeps of the owner's thread")
	require.GreaterOrEqual(t, after.CPUs[1].OwnerInvoluntarySwitches, before.CPUs[1].OwnerInvoluntarySwitches)
	require.GreaterOrEqual(t, after.GCCycles-before.GCCycles, uint64(2), "two forced collections")
	require.GreaterOrEqual(t, after.GCPauses, before.GCPauses, "the stop-the-world total only grows")
}
