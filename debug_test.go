package ctdefer_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/stretchr/testify/require"
)

// In debug mode, an owner call made from another thread than the owner's
// panics with a *MisuseError that names the method, the CPU and both
// threads.
// Mutants caught: none.
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

// In debug mode, Work.AssertFlushed called by a handler that runs before the
// work it checks (a danger-zone bug) panics with a *MisuseError that names
// the work and the caller's file.
// Mutants caught: none.
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
	require.Contains(t, caught.Error(), "debug_test.go", "names the caller")
}

// Item 5 and the docs: an owner transition from the wrong state panics with
// the message the README quotes, and leaves the CPU usable.
// Mutants caught: none.
func TestMisusePanicMatchesREADME(t *testing.T) {
	d := edgeDomain(t)
	o := startOwner(t, d, 0)
	var p any
	o.do(func(c *ctdefer.CPU) { p = recovered(func() { c.KernelEnter() }) }) // already in the kernel
	err, ok := p.(error)
	require.True(t, ok, "KernelEnter in the kernel panics with an error, got %v", p)
	readme, rerr := os.ReadFile("README.md")
	require.NoError(t, rerr)
	require.Contains(t, string(readme), err.Error(), "the README quotes the real panic text")
	require.Equal(t, ctseq.Kernel, d.State(0), "the word was restored")
	o.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() })
}
