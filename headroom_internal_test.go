package ctdefer

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The process's count of claimed CPUs, which the headroom check compares
// with GOMAXPROCS, follows the ways a claim ends: Release, and an exited
// owner's CPU taken back.
// Mutants caught: headroom-reclaim-uncounted, headroom-release-uncounted.
func TestClaimedWorkersCount(t *testing.T) {
	d, err := New(Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	base := claimedWorkers()

	held := make(chan *CPU)
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		c, err := d.Claim(0)
		if err != nil {
			done <- err
			return
		}
		held <- c
		<-release
		done <- c.Release()
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatal(err)
	}
	require.Equal(t, base+1, claimedWorkers(), "a claim counts")
	close(release)
	require.NoError(t, <-done)
	require.Equal(t, base, claimedWorkers(), "Release uncounts")

	if runtime.GOOS == "linux" {
		claimed := make(chan error)
		go func() {
			_, err := d.Claim(1)
			claimed <- err
			// Return while locked to the thread: Go ends the thread.
		}()
		require.NoError(t, <-claimed)
		require.Equal(t, base+1, claimedWorkers())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, d.Close(ctx), "nothing was pending")
		require.Equal(t, uint64(1), d.Stats().OwnersGone, "Close took the exited owner's CPU back")
		require.Equal(t, base, claimedWorkers(), "an exited owner taken back uncounts")
	} else {
		require.NoError(t, d.Close(context.Background()))
	}
}
