package host

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// The kernel's list format itself is tested with ctdefer's host package;
// here, what this package adds: ErrMalformed, and "N" and "all".
func TestParseCPUListMalformed(t *testing.T) {
	for _, in := range []string{"a", "3-1", "1,,2", "0-3:5/4", "N", "all", "1-N"} {
		if got, err := ParseCPUListLast(in, -1); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCPUListLast(%q, -1) = %v, %v; want an error wrapping ErrMalformed", in, got, err)
		}
	}
}

func TestParseCPUListLast(t *testing.T) {
	for _, tc := range []struct {
		in   string
		last int
		want []int
	}{
		{"1-N", 3, []int{1, 2, 3}},
		{"N", 7, []int{7}},
		{"all", 2, []int{0, 1, 2}},
		{"0,2-N:1/2", 6, []int{0, 2, 4, 6}},
	} {
		got, err := ParseCPUListLast(tc.in, tc.last)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUListLast(%q, %d) = %v, %v; want %v", tc.in, tc.last, got, err, tc.want)
		}
	}
	if _, err := ParseCPUListLast("1-N", -1); !errors.Is(err, ErrMalformed) {
		t.Errorf("N with an unknown last CPU: %v, want ErrMalformed", err)
	}
}

func TestSetOperations(t *testing.T) {
	a, b := []int{3, 1, 2}, []int{2, 3, 4}
	if got := Intersect(a, b); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("Intersect = %v", got)
	}
	if got := Minus(a, b); !slices.Equal(got, []int{1}) {
		t.Errorf("Minus = %v", got)
	}
	if Subset(a, b) || !Subset([]int{2}, b) || !Subset(nil, b) {
		t.Errorf("Subset wrong")
	}
}

// The fixture hosts' CPU list files parse, and the malformed one fails
// without panicking.
func TestReadCPUListFixtures(t *testing.T) {
	tuned := os.DirFS("testdata/hosts/tuned")
	if got, err := ReadCPUList(tuned, PathIsolated); err != nil || !slices.Equal(got, []int{2, 3, 6, 7}) {
		t.Errorf("tuned isolated = %v, %v", got, err)
	}
	if got := LastPossibleCPU(tuned); got != 7 {
		t.Errorf("tuned last possible CPU = %d", got)
	}
	untuned := os.DirFS("testdata/hosts/untuned")
	if got, err := ReadCPUList(untuned, PathIsolated); err != nil || len(got) != 0 {
		t.Errorf("untuned isolated = %v, %v; want none", got, err)
	}
	bad := os.DirFS("testdata/hosts/malformed")
	if _, err := ReadCPUList(bad, PathIsolated); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed isolated: %v", err)
	}
	if got := LastPossibleCPU(bad); got != -1 {
		t.Errorf("malformed possible list: last CPU %d, want -1", got)
	}
	if _, err := ReadCPUList(os.DirFS("testdata/hosts/empty"), PathIsolated); !IsNotExist(err) {
		t.Errorf("empty host: %v, want not-exist", err)
	}
}
