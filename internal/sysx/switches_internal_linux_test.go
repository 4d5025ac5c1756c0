package sysx

import "testing"

// fieldUint parses the number after its key and refuses a missing key.
func TestFieldUint(t *testing.T) {
	if _, ok := fieldUint([]byte("\nx:\t12\n"), "\ny:"); ok {
		t.Errorf("a missing key parsed")
	}
	if n, ok := fieldUint([]byte("\nx:\t12\n"), "\nx:"); !ok || n != 12 {
		t.Errorf("x: %d, %v", n, ok)
	}
}
