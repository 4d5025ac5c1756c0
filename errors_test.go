package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/host"
)

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

// recoverMisuse runs f and returns the *MisuseError it panicked with.
func recoverMisuse(f func()) (me *ctdefer.MisuseError) {
	defer func() {
		r := recover()
		err, _ := r.(error)
		errors.As(err, &me)
	}()
	f()
	return nil
}

func TestDebugWrongThreadPanics(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions()) // Debug on
	var c *ctdefer.CPU
	o := startOwner(t, d, cpus[0])
	o.do(func(x *ctdefer.CPU) { c = x })
	// This goroutine is not the owner's thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := recoverMisuse(func() { c.KernelEnter() })
	require.NotNil(t, me, "an owner call from another thread must panic in debug mode")
	require.Equal(t, "wrong thread", me.Reason)
	require.Equal(t, "CPU.KernelEnter", me.Method)
	require.Equal(t, cpus[0], me.CPU)
	require.Contains(t, me.Error(), "thread", "both thread ids are named")
	me = recoverMisuse(func() { c.UserEnter() })
	require.Equal(t, "wrong thread", me.Reason)
}

func TestDebugDangerZone(t *testing.T) {
	cpus := twoCPUs(t)
	d := newDomain(t, testOptions())
	var guarded ctdefer.Work
	var caught *ctdefer.MisuseError
	// "first" runs before "guarded" (lower bit) and touches state that
	// "guarded" brings up to date: a danger-zone bug.
	first, err := d.Register("first", func(cpu int) {
		caught = recoverMisuse(func() { guarded.AssertFlushed(cpu) })
	})
	require.NoError(t, err)
	guarded, err = d.Register("guarded", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, cpus[0])
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	requireDefer(t, d, cpus[0], guarded)
	requireDefer(t, d, cpus[0], first)
	o.do(func(c *ctdefer.CPU) {
		c.KernelEnter()
		require.NotPanics(t, func() { guarded.AssertFlushed(cpus[0]) }, "after the drain the state is fresh")
	})
	require.NotNil(t, caught, "touching guarded state before its drain must panic")
	require.Equal(t, "danger zone", caught.Reason)
	require.Contains(t, caught.Error(), "guarded", "names the work")
	require.Contains(t, caught.Error(), "errors_test.go", "names the caller")
}

// requireArgError checks that err is an *ArgError of call about arg whose
// reason contains reason, and that it wraps ErrInvalid.
func requireArgError(t *testing.T, err error, call, arg, reason string) {
	t.Helper()
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	var ae *ctdefer.ArgError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, call, ae.Call)
	require.Equal(t, arg, ae.Arg)
	require.Contains(t, ae.Reason, reason)
	require.Contains(t, err.Error(), call, "the message names the call")
}
