package grace_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// Tests of the kernel-stretch engine (grace.go) and the reclaimer
// (retire.go). Each pins down one guarantee that a catalogue mutant breaks
// (named on the test), and fails every time the
// mutant is in: the owners are switchboard-driven and acknowledge each
// mode, and every check is a Poll (which drives the engine synchronously)
// or a state the test waited for, never a sleep. Nudges are off, so that
// nothing but the owners' own transitions moves a grace period.

// A grace period waits for a CPU found in a kernel stretch, and is complete,
// at its token, once that CPU has left it.
// Mutants caught: synchronize-skips-kernel-cpus, completed-off-by-one.
func TestGracePeriodWaitsForKernelStretch(t *testing.T) {
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(0, modeKernel)
	require.True(t, f.g.Poll(grace.Token{}), "the zero Token is complete")
	tok := f.g.Start()
	require.False(t, f.g.Poll(tok), "complete while the CPU is still in the kernel stretch it was in at Start")
	require.False(t, f.g.Completed(tok))
	sb.set(t, modeUser)
	require.True(t, f.g.Poll(tok), "not complete after the CPU left the kernel")
	require.True(t, f.g.Completed(tok))
	require.Equal(t, uint64(1), f.g.Stats().GracePeriods)
}

// A CPU released inside its kernel stretch (no transition: only its claimed
// flag says the stretch is over) no longer holds the grace period.
// Mutant caught: scan-ignores-release.
func TestReleaseEndsGracePeriod(t *testing.T) {
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	leave := make(chan struct{})
	closeOnCleanup(t, leave)
	f.owner(0, func(*ctdefer.CPU) { <-leave }) // in the kernel from Claim to Release
	tok := f.g.Start()
	require.False(t, f.g.Poll(tok), "complete while the CPU is in its kernel stretch")
	close(leave)
	mutEventually(t, "the owner releases", func() bool { return !corelink.Of[ctdefer.CPU](f.d).Claimed(0) })
	require.True(t, f.g.Poll(tok), "the released CPU still holds the grace period")
}

// Start during a grace period in progress returns a token that the next
// grace period serves: the one in progress may have found a CPU quiescent
// before the call, and that CPU may have entered a kernel stretch since.
// Mutant caught: token-of-current-gp.
func TestTokenDuringGracePeriodWaitsForTheNext(t *testing.T) {
	f := mutFixture(t, 2, grace.Options{NudgeAfter: -1})
	a := f.ownerWith(0, modeKernel)
	b := f.ownerWith(1, modeUser)
	t0 := f.g.Start() // a grace period begins: CPU 0 holds it, CPU 1 is quiescent
	require.False(t, f.g.Poll(t0), "setup: CPU 0 holds the grace period")
	b.set(t, modeKernel) // CPU 1 enters a kernel stretch after the snapshot
	t1 := f.g.Start()    // must wait for that stretch too
	a.set(t, modeUser)
	require.True(t, f.g.Poll(t0), "the first grace period ends when CPU 0 leaves the kernel")
	require.False(t, f.g.Poll(t1), "a Start made during a grace period was served by it, although CPU 1 has been in a kernel stretch since before the Start")
	b.set(t, modeUser)
	require.True(t, f.g.Poll(t1), "the next grace period ends when CPU 1 leaves the kernel")
}

// Two ExpeditedBarrier calls at once keep their own wait lists: A, called
// while only CPU 1 is in the kernel, waits for CPU 1 alone; B, called once
// CPU 0 has entered the kernel too, waits for both. When CPU 1 leaves the
// kernel, A returns and B still waits for CPU 0 (its context's end names
// CPU 0 alone). A list shared between them (the scratch given back before
// the wait: mutant grace-barrier-scratch-shared) makes B's build overwrite
// A's entries: A then waits for CPU 0 instead of CPU 1 (it is still waiting
// when its context ends), or, if A's entry lands last, B waits for CPU 1
// twice and returns without CPU 0.
// Mutant caught: grace-barrier-scratch-shared.
func TestConcurrentExpeditedBarriersKeepTheirLists(t *testing.T) {
	f := mutFixture(t, 2, grace.Options{NudgeAfter: -1})
	x := f.ownerWith(0, modeUser)
	y := f.ownerWith(1, modeKernel) // never polls: only its transition ends a wait for it
	ctxA := ctxFor(t, mutLimit)
	a := make(chan error, 1)
	go func() { a <- f.g.ExpeditedBarrier(ctxA) }()
	mutEventually(t, "A's IPI to CPU 1", func() bool { return f.g.Stats().BarrierIPIs == 1 })

	x.set(t, modeKernel)
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	b := make(chan error, 1)
	go func() { b <- f.g.ExpeditedBarrier(ctxB) }()
	mutEventually(t, "B's IPIs to CPUs 0 and 1", func() bool { return f.g.Stats().BarrierIPIs == 3 })
	select {
	case err := <-a:
		t.Fatalf("A returned while CPU 1 was still in the kernel stretch it was in at the call: %v", err)
	default:
	}

	y.set(t, modeUser) // ends A's wait, and B's for CPU 1
	require.NoError(t, <-a, "A, whose only CPU left the kernel")
	cancelB()
	err := <-b
	var se *grace.StallError
	require.ErrorAs(t, err, &se, "B returned although CPU 0 is still in the kernel")
	require.Len(t, se.CPUs, 1, "B waits for CPU 0 alone: %v", err)
	require.Equal(t, 0, se.CPUs[0].CPU, "%v", err)
	x.set(t, modeUser)
}
