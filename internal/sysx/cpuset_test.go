package sysx_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func TestCPUSetZeroValueIsEmpty(t *testing.T) {
	var s sysx.CPUSet
	require.Zero(t, s.Count(), "zero CPUSet must be empty")
	require.Nil(t, s.List(), "zero CPUSet lists no CPUs")
	require.False(t, s.Has(0), "zero CPUSet has no CPU 0")
	require.False(t, s.Has(-1), "negative CPUs are never members")
}

func TestCPUSetTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cpus  []int
		list  []int
		notIn []int
	}{
		{name: "empty", cpus: nil, list: nil, notIn: []int{0, 63, 64}},
		{name: "single0", cpus: []int{0}, list: []int{0}, notIn: []int{1, 64}},
		{name: "pair", cpus: []int{0, 1}, list: []int{0, 1}, notIn: []int{2}},
		{name: "doc example", cpus: []int{11, 0, 1, 2, 3, 8, 10}, list: []int{0, 1, 2, 3, 8, 10, 11}, notIn: []int{4, 9, 12}},
		{name: "duplicates", cpus: []int{5, 5, 5}, list: []int{5}, notIn: []int{4, 6}},
		{name: "word boundary", cpus: []int{63, 64}, list: []int{63, 64}, notIn: []int{62, 65}},
		{name: "past 1023", cpus: []int{1023, 1024, 4095}, list: []int{1023, 1024, 4095}, notIn: []int{1022, 1025, 4094, 4096}},
		{name: "large only", cpus: []int{4095}, list: []int{4095}, notIn: []int{0, 4031, 4032, 4096}},
		{name: "separate", cpus: []int{0, 2, 4}, list: []int{0, 2, 4}, notIn: []int{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sysx.CPUSetOf(tc.cpus...)
			require.Equal(t, len(tc.list), s.Count(), "Count of %v", tc.cpus)
			require.Equal(t, tc.list, s.List(), "List of %v", tc.cpus)
			for _, c := range tc.list {
				require.True(t, s.Has(c), "Has(%d) of %v", c, tc.cpus)
			}
			for _, c := range tc.notIn {
				require.False(t, s.Has(c), "Has(%d) of %v", c, tc.cpus)
			}
			require.Equal(t, s, sysx.CPUSetOf(tc.list...), "one representation per set: the set built from %v", tc.cpus)
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

func ExampleCPUSet() {
	s := sysx.CPUSetOf(0, 1, 2, 3, 8, 10, 11)
	fmt.Println(s.List())
	fmt.Println(s.Count(), s.Has(8), s.Has(9))
	// Output:
	// [0 1 2 3 8 10 11]
	// 7 true false
}
