package ctdefer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// TestBadCPUWording checks that a bad CPU's *ArgError reads as one
// sentence about what is wrong: a CPU listed twice is not "not in the
// domain" (a sentinel's text once said so, whatever the cause).
func TestBadCPUWording(t *testing.T) {
	_, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 0}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New with a CPU listed twice")
	require.Equal(t, "ctdefer.New: opts.CPUs [0 0]: CPU 0 listed twice: invalid argument", err.Error(),
		"the error says what is wrong with the list, and nothing it is not")

	_, err = ctdefer.New(ctdefer.Options{CPUs: []int{1, -2}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New with a negative CPU")
	require.Equal(t, "ctdefer.New: opts.CPUs [1 -2]: CPU -2 out of range [0, 65535]: invalid argument", err.Error())

	_, err = ctdefer.New(ctdefer.Options{CPUs: []int{}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New with an empty list")
	require.Equal(t, "ctdefer.New: opts.CPUs []: empty CPU list: invalid argument", err.Error())

	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true})
	require.NoError(t, err)
	w, err := d.Register("bump", func(int) {})
	require.NoError(t, err)
	_, err = d.Defer(5, w)
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "Defer to a CPU outside the domain")
	require.Equal(t, "ctdefer.Domain.Defer: cpu 5: not one of the domain's CPUs 0-1: invalid argument", err.Error())
	_, err = d.Claim(7)
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "Claim of a CPU outside the domain")
	require.Contains(t, err.Error(), "ctdefer.Domain.Claim: cpu 7: not one of the domain's CPUs 0-1", "Claim names the CPU and the domain's list")
}
