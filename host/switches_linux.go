//go:build linux

package host

import (
	"fmt"
	"os"
	"strconv"
)

// ReadThreadSwitches reads the context-switch counters of the process's
// thread tid (/proc/self/task/TID/status); tid 0 is the calling thread
// (/proc/thread-self/status). A goroutine that reads its own thread's
// counters twice must stay locked to it (runtime.LockOSThread) in between.
// Off Linux the error wraps ctdefer.ErrNotSupported.
func ReadThreadSwitches(tid int) (ThreadSwitches, error) {
	if tid < 0 {
		return ThreadSwitches{}, fmt.Errorf("host: ReadThreadSwitches(%d): negative thread id", tid)
	}
	path := "/proc/thread-self/status"
	if tid != 0 {
		path = "/proc/self/task/" + strconv.Itoa(tid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ThreadSwitches{}, fmt.Errorf("host: ReadThreadSwitches(%d): %w", tid, err)
	}
	s, err := parseThreadSwitches(b)
	if err != nil {
		return ThreadSwitches{}, fmt.Errorf("host: ReadThreadSwitches(%d): %s: %w", tid, path, err)
	}
	return s, nil
}
