package grace_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/grace"
)

// The reclaimer counts a batch as run only once all of it has run: a
// Barrier made while a callback retired before it is still running does
// not return nil. The Barrier is given a context that has already ended, so
// that it answers at once: nil if the count says everything ran, a
// *StallError otherwise.
// Mutant caught: reclaimer-counts-before-run.
func TestBarrierWaitsForRunningCallback(t *testing.T) {
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	f.ownerWith(0, modeUser) // quiescent: grace periods end at once
	started, release := make(chan struct{}), make(chan struct{})
	closeOnCleanup(t, release)
	require.NoError(t, f.g.Retire(func() {
		close(started)
		<-release
	}))
	waitClosed(t, "the callback starts", started)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.g.Barrier(ended)
	require.Error(t, err, "Barrier returned nil while a callback retired before it was still running")
	require.ErrorIs(t, err, context.Canceled)
	close(release)
	require.NoError(t, f.g.Barrier(ctxFor(t, mutLimit)), "Barrier once the callback has returned")
}

// A retired callback runs after a grace period that began after its Retire:
// never inside a kernel stretch that was in progress when Retire was
// called. The reclaimer must start that grace period after it takes the
// batch; one started before (at the top of its loop, when it goes back to
// waiting for retires) is already over if the CPU was in user mode then.
// The test lets the reclaimer go back to waiting (it watches it block),
// then starts a kernel stretch, retires, and waits until the reclaimer has
// started a grace period for the batch: in the real code the callback has
// not run then, and cannot until the stretch ends.
// Mutant caught: reclaimer-starts-before-take.
func TestRetiredCallbackWaitsForKernelStretch(t *testing.T) {
	f := mutFixture(t, 1, grace.Options{NudgeAfter: -1})
	sb := f.ownerWith(0, modeUser)
	require.NoError(t, f.g.Retire(func() {}), "a first batch, to start the reclaimer")
	require.NoError(t, f.g.Barrier(ctxFor(t, mutLimit)))
	mutEventually(t, "the reclaimer waits for retires", reclaimerWaiting)
	base := f.g.Stats().Started

	sb.set(t, modeKernel) // a reader's kernel stretch begins
	var ran atomic.Bool
	require.NoError(t, f.g.Retire(func() { ran.Store(true) }))
	mutEventually(t, "the reclaimer starts a grace period for the batch", func() bool {
		return f.g.Stats().Started > base
	})
	require.False(t, ran.Load(), "the callback ran inside a kernel stretch that began before its Retire")
	sb.set(t, modeUser) // the stretch ends
	require.NoError(t, f.g.Barrier(ctxFor(t, mutLimit)))
	require.True(t, ran.Load(), "the callback ran after the stretch")
}
