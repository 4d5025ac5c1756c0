//go:build linux

package host

import (
	"runtime"
	"testing"
	"time"
)

// The counters parse, a sleep adds a voluntary switch, and re-reading
// allocates nothing.
func TestThreadStatus(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ts, err := OpenThreadStatus()
	if err != nil {
		t.Skip(err)
	}
	defer ts.Close()
	v0, _, err := ts.Switches()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	v1, _, err := ts.Switches()
	if err != nil || v1 <= v0 {
		t.Errorf("after a sleep: %d voluntary switches, before %d (%v)", v1, v0, err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _, _ = ts.Switches() }); n != 0 {
		t.Errorf("Switches allocates %v times", n)
	}
	if _, ok := fieldUint([]byte("\nx:\t12\n"), "\ny:"); ok {
		t.Errorf("a missing key parsed")
	}
	if n, ok := fieldUint([]byte("\nx:\t12\n"), "\nx:"); !ok || n != 12 {
		t.Errorf("x: %d, %v", n, ok)
	}
}
