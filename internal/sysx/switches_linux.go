package sysx

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ThreadSwitches returns the context switches of thread tid of this
// process since it started, from /proc/self/task/<tid>/status: voluntary
// (the thread blocked or yielded: a futex sleep, a P handed off, a blocking
// system call) and involuntary (the kernel took the CPU from it: another
// thread, or its time slice ran out). An error names the thread; a thread
// that has exited gives one wrapping os.ErrNotExist.
func ThreadSwitches(tid int) (voluntary, involuntary uint64, err error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %w", tid, err)
	}
	var found int
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		var dst *uint64
		switch string(name) {
		case "voluntary_ctxt_switches":
			dst = &voluntary
		case "nonvoluntary_ctxt_switches":
			dst = &involuntary
		default:
			continue
		}
		n, perr := strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("sysx: context switches of thread %d: %s: %w", tid, name, perr)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("sysx: context switches of thread %d: not in its status", tid)
	}
	return voluntary, involuntary, nil
}
