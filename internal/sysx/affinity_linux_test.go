package sysx_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// procStatusField returns the value of one "Name:\tvalue" line of
// /proc/self/status.
func procStatusField(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err, "open /proc/self/status")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	require.NoError(t, sc.Err(), "read /proc/self/status")
	require.FailNow(t, "field missing", "/proc/self/status has no %s line", name)
	return ""
}

// lockThread locks the test goroutine to its OS thread and restores the
// thread's affinity mask at cleanup. If the mask cannot be restored the
// thread stays locked, so the runtime discards it when the goroutine exits
// instead of reusing a thread with a narrowed mask.
func lockThread(t *testing.T) sysx.CPUSet {
	t.Helper()
	runtime.LockOSThread()
	old, err := sysx.ThreadAffinity()
	if err != nil {
		runtime.UnlockOSThread()
		require.NoError(t, err, "ThreadAffinity")
	}
	t.Cleanup(func() {
		if err := sysx.SetThreadAffinity(old); err != nil {
			t.Errorf("restoring thread affinity %s: %v", old, err)
			return
		}
		runtime.UnlockOSThread()
	})
	return old
}

func TestProcessAffinityMatchesProcStatus(t *testing.T) {
	s, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	require.Positive(t, s.Count(), "the process must be allowed at least one CPU")
	list, err := host.ParseCPUList(procStatusField(t, "Cpus_allowed_list"))
	require.NoError(t, err, "parse Cpus_allowed_list")
	require.Equal(t, list, s.List(), "ProcessAffinity vs /proc/self/status Cpus_allowed_list")
	require.Equal(t, sysx.CPUSetOf(list...), s, "ProcessAffinity representation")
}

func TestThreadAffinityMatchesUnix(t *testing.T) {
	lockThread(t)
	s, err := sysx.ThreadAffinity()
	require.NoError(t, err, "ThreadAffinity")
	var u unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &u), "unix.SchedGetaffinity")
	require.Equal(t, u.Count(), s.Count(), "Count vs unix.CPUSet (%s)", s)
	for c := range 1024 {
		require.Equal(t, u.IsSet(c), s.Has(c), "CPU %d vs unix.CPUSet", c)
	}
}

func TestSetThreadAffinityPinsEachCPU(t *testing.T) {
	old := lockThread(t)
	allowed, err := sysx.ProcessAffinity()
	require.NoError(t, err, "ProcessAffinity")
	tid := sysx.Gettid()
	require.Positive(t, tid, "Gettid")
	for _, cpu := range allowed.List() {
		if !old.Has(cpu) {
			continue // this thread's own mask excludes it
		}
		one := sysx.CPUSetOf(cpu)
		require.NoError(t, sysx.SetThreadAffinity(one), "pin to CPU %d", cpu)
		got, err := sysx.ThreadAffinity()
		require.NoError(t, err, "ThreadAffinity after pinning to %d", cpu)
		require.Equal(t, one, got, "thread mask after pinning to %d", cpu)
		for range 10 {
			now, err := sysx.CurrentCPU()
			require.NoError(t, err, "CurrentCPU")
			require.Equal(t, cpu, now, "CurrentCPU while pinned to %d", cpu)
			runtime.Gosched() // a locked goroutine comes back to the same thread
		}
		require.Equal(t, tid, sysx.Gettid(), "a locked goroutine stays on its thread")
	}
	require.NoError(t, sysx.SetThreadAffinity(old), "restore %s", old)
	got, err := sysx.ThreadAffinity()
	require.NoError(t, err, "ThreadAffinity after restore")
	require.Equal(t, old, got, "restored mask")
}

func TestSetThreadAffinityUnavailableCPU(t *testing.T) {
	old := lockThread(t)
	for _, s := range []sysx.CPUSet{sysx.CPUSetOf(4000), {}} {
		err := sysx.SetThreadAffinity(s)
		require.Error(t, err, "SetThreadAffinity(%q) must fail", s)
		require.ErrorIs(t, err, unix.EINVAL, "SetThreadAffinity(%q)", s)
		require.Contains(t, err.Error(), fmt.Sprintf("CPUs %v", s.List()), "error must name the set")
		got, err := sysx.ThreadAffinity()
		require.NoError(t, err, "ThreadAffinity")
		require.Equal(t, old, got, "a failed SetThreadAffinity must leave the mask alone")
	}
}

func TestCurrentCPUIsAllowed(t *testing.T) {
	old := lockThread(t)
	cpu, err := sysx.CurrentCPU()
	require.NoError(t, err, "CurrentCPU")
	require.True(t, old.Has(cpu), "CurrentCPU %d must be in the thread's mask %s", cpu, old)
}
