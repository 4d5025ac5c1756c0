package ctdefer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// TestBadCPUWording checks that an error wrapping ErrBadCPU reads as one
// sentence about what is wrong: a CPU listed twice is not "not in the
// domain" (the sentinel's text once said so, whatever the cause).
func TestBadCPUWording(t *testing.T) {
	_, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 0}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "New with a CPU listed twice")
	require.Equal(t, "ctdefer: New: CPU 0 listed twice: ctdefer: bad CPU", err.Error(),
		"the error says what is wrong with the list, and nothing it is not")

	_, err = ctdefer.New(ctdefer.Options{CPUs: []int{1, -2}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "New with a negative CPU")
	require.Equal(t, "ctdefer: New: CPU -2 out of range [0, 65535]: ctdefer: bad CPU", err.Error())

	_, err = ctdefer.New(ctdefer.Options{CPUs: []int{}, Unpinned: true})
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "New with an empty list")
	require.Equal(t, "ctdefer: New: empty CPU list: ctdefer: bad CPU", err.Error())

	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true})
	require.NoError(t, err)
	w, err := d.Register("bump", func(int) {})
	require.NoError(t, err)
	_, err = d.Defer(5, w)
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "Defer to a CPU outside the domain")
	require.Equal(t, "ctdefer: Defer(5, bump): CPU 5 is not one of the domain's CPUs [0 1]: ctdefer: bad CPU", err.Error())
	_, err = d.Claim(7)
	require.ErrorIs(t, err, ctdefer.ErrBadCPU, "Claim of a CPU outside the domain")
	require.Contains(t, err.Error(), "CPU 7 is not one of the domain's CPUs [0 1]", "Claim names the CPU and the domain's list")
}
