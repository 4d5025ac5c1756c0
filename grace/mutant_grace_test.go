package grace_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// Tests written for the mutation harness (internal/cmd/mutate; the
// catalogue is mutants/catalogue.txt). Each pins down one guarantee of the
// engine or the reclaimer that a mutant breaks, and fails every time the
// mutant is in: the owners are switchboard-driven and acknowledge each
// mode, and every check is a Poll (which drives the engine synchronously)
// or a state the test waited for, never a sleep. Nudges are off, so that
// nothing but the owners' own transitions moves a grace period.

// mutLimit bounds a wait for something the real code does at once.
const mutLimit = 10 * time.Second

// mutFixture is newFixture over CPUs 0 to n-1, unpinned: the tests need n
// CPUs of a Domain, not n CPUs of the machine.
func mutFixture(t *testing.T, n int, opts grace.Options) *fixture {
	t.Helper()
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
	require.NoError(t, err, "ctdefer.New")
	g, err := grace.New(d, opts)
	require.NoError(t, err, "grace.New")
	f := &fixture{t: t, d: d, g: g, cpus: cpus}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil && !errors.Is(err, grace.ErrClosed) {
			t.Errorf("grace Close: %v", err)
		}
		if err := d.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("ctdefer Close: %v", err)
		}
		f.wg.Wait()
	})
	return f
}

// closeOnCleanup closes ch at cleanup unless the test has closed it, so
// that a goroutine the test holds on ch is let go even when the test fails
// early (and cleanup does not wait for it forever).
func closeOnCleanup(t *testing.T, ch chan struct{}) {
	t.Cleanup(func() {
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(mutLimit):
		t.Fatalf("%s: not after %v", what, mutLimit)
	}
}

func mutEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, mutLimit)
		}
	}
}

// A grace period waits for a CPU found in a kernel stretch, and is complete,
// at its token, once that CPU has left it. Mutants
// synchronize-skips-kernel-cpus and completed-off-by-one.
func TestMutantGracePeriodWaitsForKernelStretch(t *testing.T) {
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
// flag says the stretch is over) no longer holds the grace period. Mutant
// scan-ignores-release.
func TestMutantReleaseEndsGracePeriod(t *testing.T) {
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	leave := make(chan struct{})
	closeOnCleanup(t, leave)
	f.owner(0, func(*ctdefer.CPU) { <-leave }) // in the kernel from Claim to Release
	tok := f.g.Start()
	require.False(t, f.g.Poll(tok), "complete while the CPU is in its kernel stretch")
	close(leave)
	mutEventually(t, "the owner releases", func() bool { return !f.d.Claimed(0) })
	require.True(t, f.g.Poll(tok), "the released CPU still holds the grace period")
}

// Start during a grace period in progress returns a token that the next
// grace period serves: the one in progress may have found a CPU quiescent
// before the call, and that CPU may have entered a kernel stretch since.
// Mutant token-of-current-gp.
func TestMutantTokenDuringGracePeriodWaitsForTheNext(t *testing.T) {
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
