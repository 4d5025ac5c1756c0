//go:build linux

package host_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// The allowed set (AllowedCPUs, and so New's) is the process's, whatever
// mask its main thread (the thread-group leader) has now: a worker that
// happens to run on the main thread pins it when it claims its CPU, and New
// must not then see that one CPU as everything the process may use.
//
// The test narrows the leader's mask to one CPU, the way such a claim
// would, calls AllowedCPUs and New(Options{}) and checks they still get the
// process's whole set, and that New still accepts a CPU outside the leader's new mask. With
// two or more allowed CPUs it pins the leader to the last of them; with
// one (taskset -c 0), to another online CPU, outside the process's set,
// which the kernel allows a thread to ask for unless a cgroup cpuset
// forbids it. The leader's mask is restored at cleanup, as are the masks of
// threads created meanwhile (they inherited the pinned mask from the
// leader).
func TestAllowedCPUsIgnoreMainThreadPin(t *testing.T) {
	pid := os.Getpid()
	leader, err := sysx.TaskAffinity(pid)
	require.NoError(t, err, "the main thread's mask")
	want := processCPUs(t)
	require.Equal(t, leader.List(), want, "before the pin, New's set is the main thread's mask")

	pin := -1
	if len(want) >= 2 {
		pin = want[len(want)-1]
	} else {
		online := onlineCPUs(t)
		for _, c := range online.List() {
			if !slices.Contains(want, c) {
				pin = c
				break
			}
		}
		if pin < 0 {
			t.Skipf("the machine has one online CPU (%v): no mask of the main thread can differ from the process's", online)
		}
	}
	before := taskIDs(t)
	err = sysx.SetTaskAffinity(pid, sysx.CPUSetOf(pin))
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("the kernel refuses to pin the main thread to CPU %d (a cgroup cpuset?): %v", pin, err)
	}
	require.NoError(t, err, "pin the main thread to CPU %d", pin)
	t.Cleanup(func() {
		if err := sysx.SetTaskAffinity(pid, leader); err != nil {
			t.Errorf("restoring the main thread's mask %v: %v", leader, err)
		}
		pinned := sysx.CPUSetOf(pin)
		for _, tid := range taskIDs(t) {
			if slices.Contains(before, tid) {
				continue
			}
			if m, err := sysx.TaskAffinity(tid); err == nil && slices.Equal(m.List(), pinned.List()) {
				_ = sysx.SetTaskAffinity(tid, leader) // it inherited the pin; ESRCH: exited
			}
		}
	})

	require.Equal(t, want, processCPUs(t), "New's set with the main thread pinned to CPU %d", pin)
	got, err := host.AllowedCPUs()
	require.NoError(t, err, "AllowedCPUs")
	require.Equal(t, want, got, "AllowedCPUs with the main thread pinned to CPU %d", pin)
	other := want[0]
	if other == pin {
		other = want[len(want)-1]
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{other}})
	require.NoError(t, err, "New over CPU %d with the main thread pinned to CPU %d", other, pin)
	require.NoError(t, d.Close(context.Background()), "Close")
	if !slices.Contains(want, pin) {
		_, err := ctdefer.New(ctdefer.Options{CPUs: []int{pin}})
		require.ErrorIs(t, err, host.ErrNotAllowed, "CPU %d is outside the process's set, wherever its main thread runs", pin)
	}
}

// onlineCPUs returns the machine's online CPUs, or skips the test.
func onlineCPUs(t *testing.T) sysx.CPUSet {
	t.Helper()
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Skipf("cannot tell the online CPUs: %v", err)
	}
	s, err := host.ParseCPUList(string(b))
	require.NoError(t, err, "parse /sys/devices/system/cpu/online %q", b)
	return sysx.CPUSetOf(s...)
}

// taskIDs returns the ids of the process's threads.
func taskIDs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err, "list threads")
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}
