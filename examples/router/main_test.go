package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRouterNoPoisonedReads runs the program on the QSBR flavour for a short
// while, unpinned (so that it also runs under taskset with one CPU), and
// checks that no worker read a reclaimed table while the controller replaced
// it, and that the run did replace tables and complete grace periods.
func TestRouterNoPoisonedReads(t *testing.T) {
	d := 400 * time.Millisecond
	if testing.Short() {
		d = 100 * time.Millisecond
	}
	rep, err := run(config{duration: d, rate: 5000, unpinned: true})
	require.NoError(t, err, "run")
	var out strings.Builder
	rep.print(&out)
	t.Log("\n" + out.String())
	require.Zero(t, rep.poisoned, "poisoned reads: a table was reclaimed while a worker held it")
	require.Positive(t, rep.updates, "the controller replaced no table")
	require.Positive(t, rep.stats.GracePeriods, "no grace period completed")
	require.Positive(t, rep.baseline.lookups+rep.loaded.lookups, "the workers looked nothing up")
	require.Equal(t, rep.stats.Retired, rep.stats.Reclaimed, "every retired table is reclaimed by Close")
	require.NoError(t, rep.verdict(), "verdict")
	require.Empty(t, rep.debugMsgs, "no Debug panic without -debug")
}
