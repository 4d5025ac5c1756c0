package host

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
)

// ThreadSwitches are a thread's context-switch counters since it started,
// as the kernel keeps them (/proc/self/task/TID/status). Voluntary: the
// thread gave up its CPU, blocking or sleeping (a Go thread that hands off
// its P and waits for it on a futex). Involuntary: the scheduler took the
// CPU from it (its time slice ended, a task of higher priority woke up).
// Subtract two readings to count the switches in between.
type ThreadSwitches struct {
	Voluntary, Involuntary uint64
}

// parseThreadSwitches reads the voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches lines of a /proc status file. Both must be
// there.
func parseThreadSwitches(status []byte) (ThreadSwitches, error) {
	var s ThreadSwitches
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "voluntary_ctxt_switches":
			dst = &s.Voluntary
		case "nonvoluntary_ctxt_switches":
			dst = &s.Involuntary
		default:
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return ThreadSwitches{}, fmt.Errorf("%s: %w", key, err)
		}
		*dst = n
		seen++
	}
	if seen != 2 {
		return ThreadSwitches{}, fmt.Errorf("no voluntary_ctxt_switches and nonvoluntary_ctxt_switches lines")
	}
	return s, nil
}
