package host_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/host"
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
		{"0-3,8,10-11\n", []int{0, 1, 2, 3, 8, 10, 11}},
		{" 1,3 \n", []int{1, 3}},
		{"3,1,2", []int{1, 2, 3}},
		{"3,1,1-2", []int{1, 2, 3}},
		{"0-4,2-6", []int{0, 1, 2, 3, 4, 5, 6}},
		{"7-7", []int{7}},
		{"007", []int{7}},
		{"4095", []int{4095}},
		{"62-66", []int{62, 63, 64, 65, 66}},
		{"1023-1024", []int{1023, 1024}},
		{"0-15:2/4", []int{0, 1, 4, 5, 8, 9, 12, 13}},
		{"2-9:1/3", []int{2, 5, 8}},
		{"0-3:4/4", []int{0, 1, 2, 3}},
	} {
		got, err := host.ParseCPUList(tc.in)
		require.NoError(t, err, "ParseCPUList(%q)", tc.in)
		require.Equal(t, tc.want, got, "ParseCPUList(%q)", tc.in)
	}
}

func TestParseCPUListLargeRange(t *testing.T) {
	got, err := host.ParseCPUList("0-65535")
	require.NoError(t, err, "the largest accepted range")
	require.Len(t, got, 1<<16, "every CPU of 0-65535")
	require.Equal(t, "0-65535", host.FormatCPUList(got), "a full range prints as one run")
}

func TestParseCPUListErrors(t *testing.T) {
	for _, in := range []string{
		",", "1,", ",1", "1,,2", "-", "-1", "1-", "3-1", "2-1", "65-64", "a", "1a", "0x1",
		"+1", "1 ,2", "1 2", "1- 2", "1-2-3", "65536", "0-65536", "99999999999999999999999",
		"0-3:2", "0-3:5/4", "0-3:0/4", "0-3:2/x", "0-3:2/0", "1:2/4", "N", "all", "1-N",
	} {
		got, err := host.ParseCPUList(in)
		require.Error(t, err, "ParseCPUList(%q) must fail, not give %v", in, got)
		require.ErrorContains(t, err, fmt.Sprintf("%q", in), "the error names the input")
	}
}

func TestFormatCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1}, "0-1"},
		{[]int{11, 0, 1, 2, 3, 8, 10}, "0-3,8,10-11"},
		{[]int{5, 5, 5}, "5"},
		{[]int{63, 64}, "63-64"},
		{[]int{0, 2, 4}, "0,2,4"},
		{[]int{1023, 1024, 4095}, "1023-1024,4095"},
	} {
		in := slices.Clone(tc.in)
		got := host.FormatCPUList(in)
		require.Equal(t, tc.want, got, "FormatCPUList(%v)", tc.in)
		require.Equal(t, tc.in, in, "FormatCPUList leaves its input alone")
		back, err := host.ParseCPUList(got)
		require.NoError(t, err, "ParseCPUList(%q)", got)
		want := slices.Compact(slices.Sorted(slices.Values(tc.in)))
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, back, "ParseCPUList(FormatCPUList(%v))", tc.in)
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, seed := range []string{
		"", "0", "0-3,8,10-11", "4095", "63-64", "1,,2", "3-1", "0-65535", "7,7-9,1", "\t5\n", "0-15:2/4",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cpus, err := host.ParseCPUList(in)
		if err != nil {
			return
		}
		require.True(t, slices.IsSorted(cpus), "sorted")
		require.Equal(t, slices.Compact(slices.Clone(cpus)), cpus, "no duplicates")
		str := host.FormatCPUList(cpus)
		again, err := host.ParseCPUList(str)
		require.NoError(t, err, "FormatCPUList of a parsed list (%q from %q) must parse", str, in)
		require.Equal(t, cpus, again, "parse→format→parse must be the identity (via %q)", str)
		require.Equal(t, str, host.FormatCPUList(again), "the format is canonical")
	})
}

func ExampleParseCPUList() {
	cpus, err := host.ParseCPUList("0-2,8,10-11\n") // as read from a sysfs file
	if err != nil {
		panic(err)
	}
	fmt.Println(cpus, host.FormatCPUList(cpus))
	_, err = host.ParseCPUList("3-1")
	fmt.Println(err)
	// Output:
	// [0 1 2 8 10 11] 0-2,8,10-11
	// host: ParseCPUList("3-1"): element "3-1": range 3-1 is descending
}
