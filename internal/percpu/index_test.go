package percpu_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

var errBad = errors.New("bad CPU")

func TestNewIndex(t *testing.T) {
	x, err := percpu.NewIndex([]int{4, 0, 7}, errBad, nil)
	require.NoError(t, err)
	require.Equal(t, 3, x.Len())
	require.Equal(t, []int{4, 0, 7}, x.List(), "the list, in order")
	for cpu, want := range map[int]int{4: 0, 0: 1, 7: 2, 1: -1, 5: -1, 8: -1, -1: -1, percpu.MaxCPU + 1: -1} {
		require.Equal(t, want, x.Of(cpu), "Of(%d)", cpu)
	}
}

func TestNewIndexKeepsACopy(t *testing.T) {
	cpus := []int{1, 2}
	x, err := percpu.NewIndex(cpus, errBad, nil)
	require.NoError(t, err)
	cpus[0] = 3
	require.Equal(t, []int{1, 2}, x.List(), "the caller's slice is not the Index's")
	require.Equal(t, 0, x.Of(1))
}

func TestNewIndexRefuses(t *testing.T) {
	errNotAllowed := errors.New("not allowed")
	only := func(ok ...int) func(int) error {
		return func(c int) error {
			for _, o := range ok {
				if c == o {
					return nil
				}
			}
			return fmt.Errorf("CPU %d: %w", c, errNotAllowed)
		}
	}
	for _, tc := range []struct {
		name  string
		cpus  []int
		check func(int) error
		want  error
		msg   string
	}{
		{"nil", nil, nil, errBad, "empty CPU list: bad CPU"},
		{"empty", []int{}, nil, errBad, "empty CPU list: bad CPU"},
		{"negative", []int{0, -1}, nil, errBad, "CPU -1 out of range [0, 65535]: bad CPU"},
		{"too large", []int{percpu.MaxCPU + 1}, nil, errBad, "CPU 65536 out of range [0, 65535]: bad CPU"},
		{"duplicate", []int{2, 1, 2}, nil, errBad, "CPU 2 listed twice: bad CPU"},
		{"check", []int{0, 1}, only(0), errNotAllowed, "CPU 1: not allowed"},
		// In order, each CPU for range, duplicates, then check.
		{"check before a later duplicate", []int{1, 1}, only(0), errNotAllowed, "CPU 1: not allowed"},
		{"duplicate before check", []int{0, 0}, only(), errNotAllowed, "CPU 0: not allowed"},
		{"range before check", []int{-1}, only(), errBad, "CPU -1 out of range [0, 65535]: bad CPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := percpu.NewIndex(tc.cpus, errBad, tc.check)
			require.ErrorIs(t, err, tc.want)
			require.EqualError(t, err, tc.msg)
		})
	}
}

func TestZeroIndexIsEmpty(t *testing.T) {
	var x percpu.Index
	require.Zero(t, x.Len())
	require.Empty(t, x.List())
	require.Equal(t, -1, x.Of(0))
}
