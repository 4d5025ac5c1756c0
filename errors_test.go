package ctdefer_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/host"
)

// New refuses a negative, duplicate, out-of-range or empty CPU list with
// ErrInvalid.
// Mutants caught: none.
func TestNewBadCPUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cpus []int
		want error
	}{
		{"negative", []int{-1}, ctdefer.ErrInvalid},
		{"duplicate", []int{0, 0}, ctdefer.ErrInvalid},
		{"beyond MaxCPU", []int{maxCPU + 1}, ctdefer.ErrInvalid},
		{"empty", []int{}, ctdefer.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ctdefer.New(ctdefer.Options{CPUs: tc.cpus, Unpinned: true})
			require.ErrorIs(t, err, tc.want, "New(%v)", tc.cpus)
			if len(tc.cpus) > 0 {
				require.Contains(t, err.Error(), fmt.Sprint(tc.cpus[len(tc.cpus)-1]), "the error names the CPU")
			}
		})
	}
}

// A pinned Domain over a CPU the process may not run on is refused
// (host.ErrNotAllowed, naming the CPU); unpinned, the CPU number is only a
// name; off Linux, pinning is not supported.
// Mutants caught: none.
func TestNewCPUNotAllowed(t *testing.T) {
	if runtime.GOOS != "linux" {
		_, err := ctdefer.New(ctdefer.Options{})
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "pinned domains need Linux")
		return
	}
	// CPU 4000 (beyond 1023, the limit of a fixed cpu_set_t) is not in any
	// allowed set on this machine.
	_, err := ctdefer.New(ctdefer.Options{CPUs: []int{4000}})
	require.ErrorIs(t, err, host.ErrNotAllowed)
	require.Contains(t, err.Error(), "4000")
	// Unpinned, the same CPU number is fine: it is only a name.
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{4000}, Unpinned: true})
	require.NoError(t, err, "unpinned CPU numbers beyond 1023 work")
	c, err := d.Claim(4000)
	require.NoError(t, err)
	require.NoError(t, c.Release())
	require.NoError(t, d.Close(context.Background()))
}

// Claim refuses a CPU outside the Domain (ErrInvalid) and a CPU claimed
// already (ErrCPUBusy, naming the CPU).
// Mutants caught: none.
func TestClaimErrors(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	_, err := d.Claim(-1)
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	_, err = d.Claim(maxCPU)
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	startOwner(t, d, cpus[0])
	_, err = d.Claim(cpus[0])
	require.ErrorIs(t, err, ctdefer.ErrCPUBusy, "second Claim of a claimed CPU")
	require.Contains(t, err.Error(), fmt.Sprint(cpus[0]))
}

// Register refuses a nil handler, an empty name, a name registered already
// and a kind of work beyond the limit, each with an *ArgError that names the
// argument.
// Mutants caught: none.
func TestRegisterErrors(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	_, err := d.Register("nil", nil)
	requireArgError(t, err, "ctdefer.Domain.Register", "handler", "nil")
	_, err = d.Register("", func(int) {})
	requireArgError(t, err, "ctdefer.Domain.Register", "name", "empty")
	for i := range ctseq.WorkBits {
		_, err := d.Register(fmt.Sprint("w", i), func(int) {})
		require.NoError(t, err, "work %d of %d", i, ctseq.WorkBits)
	}
	_, err = d.Register("one too many", func(int) {})
	requireArgError(t, err, "ctdefer.Domain.Register", "name", "16 kinds of work are registered already, the limit")
	_, err = d.Register("w0", func(int) {})
	requireArgError(t, err, "ctdefer.Domain.Register", "name", "already registered")

	d2 := newDomain(t, testOptions())
	o := startOwner(t, d2, cpus[0])
	_, err = d2.Register("late", func(int) {})
	requireArgError(t, err, "ctdefer.Domain.Register", "name", "registration is closed after the first Claim")
	o.stop()
}

// Defer and DeferWait refuse the zero Work, a Work of another Domain and a
// CPU outside the Domain (ErrInvalid), and, after Close, Defer, DeferWait
// and Register return ErrClosed.
// Mutants caught: none.
func TestDeferErrors(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	other := newDomain(t, testOptions())
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	foreign, err := other.Register("foreign", func(int) {})
	require.NoError(t, err)

	requireDeferErr(t, d, cpus[0], ctdefer.Work{}, ctdefer.ErrInvalid, "zero Work")
	requireDeferErr(t, d, cpus[0], foreign, ctdefer.ErrInvalid, "Work of another Domain")
	requireDeferErr(t, d, -1, w, ctdefer.ErrInvalid)
	requireDeferErr(t, d, maxCPU+5, w, ctdefer.ErrInvalid)
	require.ErrorIs(t, d.DeferWait(context.Background(), -1, w), ctdefer.ErrInvalid)
	require.NoError(t, d.Close(context.Background()))
	requireDeferErr(t, d, cpus[0], w, ctdefer.ErrClosed, "Defer after Close")
	require.ErrorIs(t, d.DeferWait(context.Background(), cpus[0], w), ctdefer.ErrClosed)
	_, err = d.Register("after close", func(int) {})
	require.ErrorIs(t, err, ctdefer.ErrClosed)
}

// TestBadCPUWording checks that a bad CPU's *ArgError reads as one
// sentence about what is wrong: a CPU listed twice is not "not in the
// domain" (a sentinel's text once said so, whatever the cause).
// Mutants caught: none.
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

// Item 17: validation errors name the method that was called.
// Mutants caught: none.
func TestValidationErrorsNameTheMethod(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	ctx := context.Background()
	for name, err := range map[string]error{
		"Defer":     func() error { _, err := d.Defer(7, w); return err }(),
		"DeferWait": d.DeferWait(ctx, 7, w),
		"Send":      func() error { _, err := d.Send(ctx, 7, w); return err }(),
		"IPI":       d.IPI(ctx, 7, w),
		"Claim":     func() error { _, err := d.Claim(7); return err }(),
	} {
		require.ErrorIs(t, err, ctdefer.ErrInvalid, name)
		require.True(t, strings.HasPrefix(err.Error(), "ctdefer.Domain."+name+": cpu 7: "), "%s: %v", name, err)
	}
	for name, err := range map[string]error{
		"Defer":     func() error { _, err := d.Defer(0, ctdefer.Work{}); return err }(),
		"DeferWait": d.DeferWait(ctx, 0, ctdefer.Work{}),
		"Send":      func() error { _, err := d.Send(ctx, 0, ctdefer.Work{}); return err }(),
		"IPI":       d.IPI(ctx, 0, ctdefer.Work{}),
	} {
		require.ErrorIs(t, err, ctdefer.ErrInvalid, name)
		require.True(t, strings.HasPrefix(err.Error(), "ctdefer.Domain."+name+": "), "%s: %v", name, err)
	}
}
