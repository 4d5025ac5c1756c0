//go:build linux

package sysx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ThreadStart returns the start time of thread tid of this process (field 22
// of /proc/self/task/TID/stat, in clock ticks since boot). Together with the
// tid it names one thread for good: the kernel recycles tids, but a recycled
// tid belongs to a thread that started later. It allocates nothing when it
// succeeds (waits call it on their slow path, and waits allocate nothing):
// the path and the file live in stack buffers, read with raw system calls.
func ThreadStart(tid int) (uint64, error) {
	var path [64]byte
	p := append(path[:0], "/proc/self/task/"...)
	p = strconv.AppendInt(p, int64(tid), 10)
	p = append(p, "/stat\x00"...)
	dirfd := unix.AT_FDCWD // a variable: the constant (-100) does not convert to uintptr
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&p[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("sysx: start time of thread %d: %w", tid, errno) // ENOENT is os.ErrNotExist
	}
	var buf [1024]byte
	n, _, errno := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("sysx: start time of thread %d: %w", tid, errno)
	}
	b := buf[:n]
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: count fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("sysx: start time of thread %d: malformed stat %q", tid, string(b))
	}
	// The fields after it are 3 (state), 4, ...: field 22 is the 20th.
	field, v, in := 2, uint64(0), false
	for _, c := range b[i+1:] {
		switch {
		case c == ' ' || c == '\n':
			if in && field == 22 {
				return v, nil
			}
			in = false
		case !in:
			in, field, v = true, field+1, 0
			fallthrough
		default:
			if field == 22 {
				if c < '0' || c > '9' {
					return 0, fmt.Errorf("sysx: start time of thread %d: field 22 is not a number in %q", tid, string(b))
				}
				v = v*10 + uint64(c-'0')
			}
		}
	}
	if in && field == 22 {
		return v, nil
	}
	return 0, fmt.Errorf("sysx: start time of thread %d: short stat %q", tid, string(b))
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
