package ctdefer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
)

// A claim that leaves no P for other goroutines succeeds by default, and is
// counted in Stats.NoHeadroom and logged with the numbers; one that leaves
// some is neither.
// Mutant caught: headroom-never-short.
func TestClaimWithoutHeadroomIsReported(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })

	withGOMAXPROCS(t, 64) // far more than the CPUs claimed in this process
	o := startOwner(t, d, 0)
	st := cpuStats(d, 0)
	require.Zero(t, st.NoHeadroom, "headroom left")
	require.Empty(t, rec.find("headroom"), "headroom left: nothing logged")
	o.stop()

	withGOMAXPROCS(t, 1) // one worker takes the only P
	_ = startOwner(t, d, 1)
	st = cpuStats(d, 1)
	require.Equal(t, uint64(1), st.NoHeadroom, "the claim is counted")
	require.Equal(t, uint64(1), d.Stats().NoHeadroom)
	r := rec.one(t, "no GOMAXPROCS headroom")
	require.Equal(t, slog.LevelWarn, r.level)
	require.Equal(t, "1", r.attrs["cpu"])
	require.Equal(t, "1", r.attrs["gomaxprocs"])
	require.NotEmpty(t, r.attrs["claimed"])
}

// With RequireHeadroom the claim is refused with host.ErrNoHeadroom, the CPU
// stays free, and the refusal holds no count: with headroom back, the
// same CPU can be claimed.
// Mutant caught: headroom-not-required.
func TestRequireHeadroomRefusesClaim(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.RequireHeadroom = true })
	_, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	withGOMAXPROCS(t, 1)
	for range 3 {
		_, err = d.Claim(0)
		require.ErrorIs(t, err, host.ErrNoHeadroom)
		require.True(t, strings.HasPrefix(err.Error(), "ctdefer: Claim(0):"), err.Error())
		require.ErrorContains(t, err, "GOMAXPROCS 1")
		require.False(t, d.Claimed(0))
	}
	require.ErrorIs(t, d.Go(1, func(*ctdefer.CPU) {}), host.ErrNoHeadroom, "Go too")
	require.Len(t, rec.find("Claim refused"), 4, "each refusal is logged")

	withGOMAXPROCS(t, 64)
	o := startOwner(t, d, 0)
	o.stop()
	require.Zero(t, d.Stats().NoHeadroom, "refusals are not claims")
	require.NoError(t, d.Close(context.Background()))
}
