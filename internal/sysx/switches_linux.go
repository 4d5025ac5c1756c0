package sysx

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ThreadStatus reads the context-switch counters of one thread of this
// process (/proc/self/task/<tid>/status) again and again without
// allocating, for a hot loop that looks at them only when it was
// interrupted: voluntary switches (the thread blocked or yielded: a futex
// sleep, a P handed off, a blocking system call) and involuntary ones (the
// kernel took the CPU from it: another thread, an expired time slice).
type ThreadStatus struct {
	tid int
	f   *os.File
	buf [4096]byte
}

// OpenThreadStatus opens thread tid's status file. An error names the
// thread; a thread that has exited gives one wrapping os.ErrNotExist.
func OpenThreadStatus(tid int) (*ThreadStatus, error) {
	f, err := os.Open("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return nil, fmt.Errorf("sysx: context switches of thread %d: %w", tid, err)
	}
	return &ThreadStatus{tid: tid, f: f}, nil
}

// Switches re-reads the file and returns the thread's voluntary and
// involuntary context switches since it started.
func (t *ThreadStatus) Switches() (voluntary, involuntary uint64, err error) {
	n, err := t.f.ReadAt(t.buf[:], 0)
	if n == 0 && err != nil {
		return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %w", t.tid, err)
	}
	b := t.buf[:n]
	v, okV := fieldUint(b, "\nvoluntary_ctxt_switches:")
	i, okI := fieldUint(b, "\nnonvoluntary_ctxt_switches:")
	if !okV || !okI {
		return 0, 0, fmt.Errorf("sysx: context switches of thread %d: not in its status", t.tid)
	}
	return v, i, nil
}

// Close closes the file.
func (t *ThreadStatus) Close() error { return t.f.Close() }

// ThreadSwitches returns thread tid's context switches since it started:
// OpenThreadStatus, one read, Close.
func ThreadSwitches(tid int) (voluntary, involuntary uint64, err error) {
	t, err := OpenThreadStatus(tid)
	if err != nil {
		return 0, 0, err
	}
	defer t.Close()
	return t.Switches()
}

// fieldUint parses the number after key in b.
func fieldUint(b []byte, key string) (uint64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	var n uint64
	digits := 0
	for ; digits < len(b) && b[digits] >= '0' && b[digits] <= '9'; digits++ {
		n = n*10 + uint64(b[digits]-'0')
	}
	return n, digits > 0
}
