//go:build linux

package host_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// processCPUs returns the process's allowed set as ctdefer.New sees it: the
// CPUs of New(Options{}).
func processCPUs(t *testing.T) []int {
	t.Helper()
	d, err := ctdefer.New(ctdefer.Options{})
	require.NoError(t, err, "New(Options{})")
	cpus := d.CPUs()
	require.NoError(t, d.Close(context.Background()), "Close")
	return cpus
}

// isolate calls host.Isolate without letting a panic escape, and
// restores whatever it isolated at cleanup, so that a failing check leaves
// no CPU isolated for the tests after it.
func isolate(t *testing.T, cpus ...int) (err error) {
	t.Helper()
	var iso *host.Isolation
	require.NotPanics(t, func() { iso, err = host.Isolate(cpus...) }, "Isolate(%v)", cpus)
	if iso != nil {
		t.Cleanup(func() {
			if err := iso.Restore(); err != nil {
				t.Errorf("Restore of Isolate(%v): %v", cpus, err)
			}
		})
	}
	return err
}

// A negative CPU number, or one above 65535, is an error that names it
// (and wraps no sentinel: it is a programming error): not a panic of the
// platform layer, and nothing is isolated.
func TestIsolateBadCPU(t *testing.T) {
	before := processCPUs(t)
	for _, cpus := range [][]int{{-1}, {1 << 16}, {before[0], -7}, {1 << 20}} {
		err := isolate(t, cpus...)
		require.Error(t, err, "Isolate(%v)", cpus)
		require.NotErrorIs(t, err, host.ErrNotAllowed, "Isolate(%v)", cpus)
		require.ErrorContains(t, err, fmt.Sprintf("CPU %d out of range", cpus[len(cpus)-1]), "Isolate(%v): the error names the value", cpus)
		require.ErrorContains(t, err, "host: Isolate", "Isolate(%v): the error names the function", cpus)
	}
	require.Equal(t, before, processCPUs(t), "nothing isolated: New's set is unchanged")
	var none *host.Isolation // what Isolate returns with an error
	require.Zero(t, none.Threads(), "the nil Isolation moved no thread")
	require.NoError(t, none.Restore(), "the nil Isolation restores nothing")
}

// A CPU outside the process's allowed set (66 on a small machine, or the
// first number above the allowed set) is an error wrapping
// ErrNotAllowed that names it and the allowed set; it is not isolated,
// and New still refuses it: Isolate never widens what New accepts.
func TestIsolateCPUNotAllowed(t *testing.T) {
	allowed := processCPUs(t)
	set := sysx.CPUSetOf(allowed...)
	var outside []int
	for _, c := range []int{66, allowed[len(allowed)-1] + 1, 1<<16 - 1} {
		if !set.Has(c) {
			outside = append(outside, c)
		}
	}
	require.NotEmpty(t, outside, "some CPU lies outside %v", allowed)
	for _, c := range outside {
		err := isolate(t, c)
		require.ErrorIs(t, err, host.ErrNotAllowed, "Isolate(%d) with allowed set %v", c, allowed)
		require.ErrorContains(t, err, fmt.Sprintf("CPU %d", c), "Isolate(%d): the error names the value", c)
		require.ErrorContains(t, err, host.FormatCPUList(allowed), "Isolate(%d): the error names the allowed set", c)

		_, err = ctdefer.New(ctdefer.Options{CPUs: []int{c}})
		require.ErrorIs(t, err, host.ErrNotAllowed, "New refuses CPU %d after Isolate(%d) failed", c, c)
	}
	require.Equal(t, allowed, processCPUs(t), "New's set is unchanged")
}

// An allowed CPU is isolated and stays in New's set (its workers are meant
// to claim it), and Restore gives the threads their masks back. With a
// single allowed CPU, isolating it is an error: no CPU would remain for the
// rest of the process.
func TestIsolateAllowedCPU(t *testing.T) {
	allowed := processCPUs(t)
	last := allowed[len(allowed)-1]
	if len(allowed) == 1 {
		err := isolate(t, last)
		require.ErrorIs(t, err, host.ErrNotAllowed, "Isolate of the only allowed CPU %d", last)
		return
	}
	leader, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	iso, err := host.Isolate(last)
	require.NoError(t, err, "Isolate(%d)", last)
	restored := false
	t.Cleanup(func() {
		if !restored {
			_ = iso.Restore()
		}
	})
	now, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	require.False(t, now.Has(last), "the main thread is off CPU %d: %v", last, now)
	require.Equal(t, allowed, processCPUs(t), "the isolated CPU is still New's")
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{last}})
	require.NoError(t, err, "New over the isolated CPU %d", last)
	require.NoError(t, d.Close(context.Background()), "Close")

	restored = true
	require.NoError(t, iso.Restore(), "Restore")
	now, err = sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	require.Equal(t, leader, now, "Restore gave the main thread its mask back")
	require.Equal(t, allowed, processCPUs(t), "New's set after Restore")
}

// Isolating every allowed CPU leaves nothing for the rest of the process:
// ErrNotAllowed, and no thread is moved.
func TestIsolateEveryAllowedCPU(t *testing.T) {
	allowed := processCPUs(t)
	leader, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	err = isolate(t, allowed...)
	require.ErrorIs(t, err, host.ErrNotAllowed, "Isolate(%v): no CPU would remain", allowed)
	now, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	require.Equal(t, leader, now, "the main thread's mask is unchanged")
}
