//go:build linux

package sysx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ThreadStart returns the start time of thread tid of this process (field 22
// of /proc/self/task/TID/stat, in clock ticks since boot). Together with the
// tid it names one thread for good: the kernel recycles tids, but a recycled
// tid belongs to a thread that started later.
func ThreadStart(tid int) (uint64, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("sysx: start time of thread %d: %w", tid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: count fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("sysx: start time of thread %d: malformed stat %q", tid, b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("sysx: start time of thread %d: short stat %q", tid, b)
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysx: start time of thread %d: %w", tid, err)
	}
	return v, nil
}

// ThreadAlive reports whether thread tid of this process, which started at
// start (from ThreadStart; 0 if unknown), still exists. A tid that has been
// recycled by a thread that started at another time reports false. Without
// /proc it falls back to tgkill(pid, tid, 0), which cannot see recycling.
func ThreadAlive(tid int, start uint64) bool {
	if tid <= 0 {
		return true // unknown thread: assume alive, never reclaim on a guess
	}
	if start != 0 {
		now, err := ThreadStart(tid)
		if err == nil {
			return now == start
		}
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	err := unix.Tgkill(unix.Getpid(), tid, 0)
	return !errors.Is(err, unix.ESRCH)
}
