//go:build linux

package host

import (
	"bytes"
	"errors"
	"os"
)

// ThreadStatus reads the context-switch counters of the thread that opened
// it (/proc/thread-self/status) again and again without allocating, for a
// hot loop that looks at them only when it was interrupted. The opening
// goroutine must stay locked to its thread while it uses it.
type ThreadStatus struct {
	f   *os.File
	buf [4096]byte
}

// OpenThreadStatus opens the calling thread's status file.
func OpenThreadStatus() (*ThreadStatus, error) {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		return nil, err
	}
	return &ThreadStatus{f: f}, nil
}

// Switches re-reads the file and returns its voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches.
func (t *ThreadStatus) Switches() (voluntary, involuntary uint64, err error) {
	n, err := t.f.ReadAt(t.buf[:], 0)
	if n == 0 && err != nil {
		return 0, 0, err
	}
	b := t.buf[:n]
	v, okV := fieldUint(b, "\nvoluntary_ctxt_switches:")
	i, okI := fieldUint(b, "\nnonvoluntary_ctxt_switches:")
	if !okV || !okI {
		return 0, 0, errThreadStatus
	}
	return v, i, nil
}

// Close closes the file.
func (t *ThreadStatus) Close() error { return t.f.Close() }

var errThreadStatus = errors.New("/proc/thread-self/status: no context-switch counters: " + ErrMalformed.Error())

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
