package ctdefer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// The read-only accessors a grace-period scan uses (Observe, Claimed,
// Snapshot, QuiescentSince) agree with each other in every state of a CPU,
// and answer an unknown CPU as documented.
func TestObserveAgreesWithClaimedAndSnapshot(t *testing.T) {
	d := edgeDomain(t)

	snap, claimed := d.Observe(0)
	require.False(t, claimed, "an unclaimed CPU")
	require.Equal(t, ctseq.Snapshot{}, snap, "an unclaimed CPU reports the zero Snapshot")
	require.False(t, d.Claimed(0))

	o := startOwner(t, d, 0)
	check := func(want ctseq.State) {
		t.Helper()
		snap, claimed := d.Observe(0)
		require.True(t, claimed, "a claimed CPU")
		require.Equal(t, want, snap.State())
		direct, err := d.Snapshot(0)
		require.NoError(t, err)
		require.Equal(t, direct, snap, "Observe reads the word Snapshot reads")
		require.True(t, d.Claimed(0))
	}
	check(ctseq.Kernel)
	before, _ := d.Observe(0)
	require.False(t, d.QuiescentSince(0, before), "no transition yet")
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	check(ctseq.User)
	require.True(t, d.QuiescentSince(0, before), "the owner left the kernel")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	check(ctseq.Kernel)
	o.stop()
	_, claimed = d.Observe(0)
	require.False(t, claimed, "released")

	for _, cpu := range []int{-1, 2, 1 << 20} {
		snap, claimed := d.Observe(cpu)
		require.False(t, claimed, "unknown CPU %d", cpu)
		require.Equal(t, ctseq.Snapshot{}, snap)
		require.False(t, d.Claimed(cpu), "unknown CPU %d", cpu)
		require.True(t, d.QuiescentSince(cpu, ctseq.Snapshot{}), "nothing runs on unknown CPU %d", cpu)
		_, err := d.Snapshot(cpu)
		require.ErrorIs(t, err, ctdefer.ErrInvalid)
		require.ErrorContains(t, err, "ctdefer.Domain.Snapshot: cpu ")
	}
}
