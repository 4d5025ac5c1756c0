package host

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"", nil},
		{"\n", nil},
		{"0", []int{0}},
		{"0-3", []int{0, 1, 2, 3}},
		{"0-3,8,10-11", []int{0, 1, 2, 3, 8, 10, 11}},
		{" 1,3 \n", []int{1, 3}},
		{"3,1,1-2", []int{1, 2, 3}},
		{"0-15:2/4", []int{0, 1, 4, 5, 8, 9, 12, 13}},
		{"2-9:1/3", []int{2, 5, 8}},
		{"1023-1024", []int{1023, 1024}},
	} {
		got, err := ParseCPUList(tc.in)
		if err != nil {
			t.Errorf("ParseCPUList(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseCPUListMalformed(t *testing.T) {
	for _, in := range []string{"a", "1-", "-1", "3-1", "1,,2", ",", "0-3:2", "0-3:5/4", "0-3:0/4", "0-3:2/x", "1:2/4",
		"99999", "+1", "1 2", "0x1", "N", "all", "1-N"} {
		if got, err := ParseCPUList(in); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want an error wrapping ErrMalformed", in, got, err)
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

func TestFormatCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{3, 0, 1, 2, 8, 10, 11, 11}, "0-3,8,10-11"},
		{[]int{1, 3, 5}, "1,3,5"},
	} {
		if got := FormatCPUList(tc.in); got != tc.want {
			t.Errorf("FormatCPUList(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ParseCPUList(FormatCPUList(tc.in))
		if err != nil || !slices.Equal(back, compact(tc.in)) {
			t.Errorf("round trip of %v: %v, %v", tc.in, back, err)
		}
	}
}

func compact(c []int) []int {
	c = slices.Clone(c)
	slices.Sort(c)
	return slices.Compact(c)
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
