package sysx_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func TestCPUSetZeroValueIsEmpty(t *testing.T) {
	var s sysx.CPUSet
	require.Zero(t, s.Count(), "zero CPUSet must be empty")
	require.Nil(t, s.List(), "zero CPUSet lists no CPUs")
	require.Equal(t, "", s.String(), "zero CPUSet prints as the empty list")
	require.False(t, s.Has(0), "zero CPUSet has no CPU 0")
	require.False(t, s.Has(-1), "negative CPUs are never members")
}

func TestCPUSetTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cpus  []int
		list  []int
		str   string
		notIn []int
	}{
		{name: "empty", cpus: nil, list: nil, str: "", notIn: []int{0, 63, 64}},
		{name: "single0", cpus: []int{0}, list: []int{0}, str: "0", notIn: []int{1, 64}},
		{name: "pair", cpus: []int{0, 1}, list: []int{0, 1}, str: "0-1", notIn: []int{2}},
		{name: "doc example", cpus: []int{11, 0, 1, 2, 3, 8, 10}, list: []int{0, 1, 2, 3, 8, 10, 11}, str: "0-3,8,10-11", notIn: []int{4, 9, 12}},
		{name: "duplicates", cpus: []int{5, 5, 5}, list: []int{5}, str: "5", notIn: []int{4, 6}},
		{name: "word boundary", cpus: []int{63, 64}, list: []int{63, 64}, str: "63-64", notIn: []int{62, 65}},
		{name: "past 1023", cpus: []int{1023, 1024, 4095}, list: []int{1023, 1024, 4095}, str: "1023-1024,4095", notIn: []int{1022, 1025, 4094, 4096}},
		{name: "large only", cpus: []int{4095}, list: []int{4095}, str: "4095", notIn: []int{0, 4031, 4032, 4096}},
		{name: "separate", cpus: []int{0, 2, 4}, list: []int{0, 2, 4}, str: "0,2,4", notIn: []int{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sysx.CPUSetOf(tc.cpus...)
			require.Equal(t, len(tc.list), s.Count(), "Count of %v", tc.cpus)
			require.Equal(t, tc.list, s.List(), "List of %v", tc.cpus)
			require.Equal(t, tc.str, s.String(), "String of %v", tc.cpus)
			for _, c := range tc.list {
				require.True(t, s.Has(c), "Has(%d) of %v", c, tc.cpus)
			}
			for _, c := range tc.notIn {
				require.False(t, s.Has(c), "Has(%d) of %v", c, tc.cpus)
			}
			p, err := sysx.ParseCPUList(tc.str)
			require.NoError(t, err, "ParseCPUList(%q)", tc.str)
			require.Equal(t, s, p, "ParseCPUList(String()) must equal the set built from %v", tc.cpus)
		})
	}
}

func TestCPUSetClearTrimsToCanonicalForm(t *testing.T) {
	s := sysx.CPUSetOf(1, 4095)
	s.Clear(4095)
	require.Equal(t, sysx.CPUSetOf(1), s, "clearing the highest CPU must trim to the same representation as a fresh set")
	s.Clear(1)
	require.Equal(t, sysx.CPUSet{}, s, "clearing the last CPU must give the zero CPUSet")
	s.Clear(100000) // beyond the set: no-op, no growth
	require.Equal(t, sysx.CPUSet{}, s, "clearing an absent CPU beyond the set must not grow it")
}

func TestCPUSetSetThenClear(t *testing.T) {
	var s sysx.CPUSet
	s.Set(70)
	require.True(t, s.Has(70), "Has after Set")
	s.Clear(70)
	require.False(t, s.Has(70), "Has after Clear")
	require.Zero(t, s.Count(), "Count after Clear")
}

func TestCPUSetSetNegativePanics(t *testing.T) {
	var s sysx.CPUSet
	require.PanicsWithValue(t, "sysx: CPUSet.Set: negative cpu -1", func() { s.Set(-1) }, "Set(-1) is misuse")
	require.PanicsWithValue(t, "sysx: CPUSet.Clear: negative cpu -2", func() { s.Clear(-2) }, "Clear(-2) is misuse")
	require.PanicsWithValue(t, "sysx: CPUSetOf: negative cpu -3", func() { sysx.CPUSetOf(1, -3) }, "CPUSetOf(-3) is misuse")
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"", nil},
		{"\n", nil},
		{"0", []int{0}},
		{"0-3,8,10-11\n", []int{0, 1, 2, 3, 8, 10, 11}},
		{"3,1,2", []int{1, 2, 3}},
		{"0-4,2-6", []int{0, 1, 2, 3, 4, 5, 6}},
		{"7-7", []int{7}},
		{"007", []int{7}},
		{"4095", []int{4095}},
		{"62-66", []int{62, 63, 64, 65, 66}},
	} {
		s, err := sysx.ParseCPUList(tc.in)
		require.NoError(t, err, "ParseCPUList(%q)", tc.in)
		require.Equal(t, tc.want, s.List(), "ParseCPUList(%q)", tc.in)
	}
}

func TestParseCPUListLargeRange(t *testing.T) {
	s, err := sysx.ParseCPUList("0-1048575")
	require.NoError(t, err, "the largest accepted range")
	require.Equal(t, 1<<20, s.Count(), "every CPU of 0-1048575")
	require.Equal(t, "0-1048575", s.String(), "a full range prints as one run")
	s, err = sysx.ParseCPUList("1-4094")
	require.NoError(t, err, "range across many words")
	require.Equal(t, 4094, s.Count(), "1-4094")
	require.False(t, s.Has(0), "1-4094 lacks 0")
	require.False(t, s.Has(4095), "1-4094 lacks 4095")
}

func TestParseCPUListErrors(t *testing.T) {
	for _, in := range []string{
		",", "1,", ",1", "1,,2", "-", "-1", "1-", "3-1", "2-1", "65-64", "a", "1a", "0x1",
		"+1", "1 ,2", "1- 2", "0-7:2/4", "1-2-3", "1048576", "0-1048576",
		"99999999999999999999999",
	} {
		_, err := sysx.ParseCPUList(in)
		require.Error(t, err, "ParseCPUList(%q) must fail", in)
		require.True(t, errors.Is(err, sysx.ErrBadCPUList), "ParseCPUList(%q) error %v must wrap ErrBadCPUList", in, err)
		require.Contains(t, err.Error(), fmt.Sprintf("%q", in), "error must name the input")
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, seed := range []string{
		"", "0", "0-3,8,10-11", "4095", "63-64", "1,,2", "3-1", "0-1048575", "7,7-9,1", "\t5\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := sysx.ParseCPUList(in)
		if err != nil {
			require.ErrorIs(t, err, sysx.ErrBadCPUList, "every parse error must wrap ErrBadCPUList")
			return
		}
		str := s.String()
		again, err := sysx.ParseCPUList(str)
		require.NoError(t, err, "String() of a parsed set (%q from %q) must parse", str, in)
		require.Equal(t, s, again, "parse→String→parse must be the identity (via %q)", str)
		require.Equal(t, str, again.String(), "String must be canonical")
		require.Equal(t, s.Count(), len(s.List()), "Count must match List")
	})
}

func ExampleCPUSet_String() {
	s := sysx.CPUSetOf(0, 1, 2, 3, 8, 10, 11)
	fmt.Println(s)
	fmt.Println(s.Count(), s.Has(8), s.Has(9))
	// Output:
	// 0-3,8,10-11
	// 7 true false
}

func ExampleParseCPUList() {
	s, err := sysx.ParseCPUList("0-2,4095\n") // as read from a sysfs file
	if err != nil {
		panic(err)
	}
	fmt.Println(s.List())
	_, err = sysx.ParseCPUList("3-1")
	fmt.Println(errors.Is(err, sysx.ErrBadCPUList), err)
	// Output:
	// [0 1 2 4095]
	// true sysx: ParseCPUList "3-1": element "3-1": bad CPU list: range 3-1 is descending
}
