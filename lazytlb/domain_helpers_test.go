package lazytlb_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// testOptions pins on Linux and runs unpinned elsewhere.
func testOptions(cpus []int) ctdefer.Options {
	return ctdefer.Options{CPUs: cpus, Unpinned: runtime.GOOS != "linux", IPITimeout: 10 * time.Second}
}

// newDomain creates a Domain over cpus, closed at cleanup.
func newDomain(t testing.TB, cpus []int) *ctdefer.Domain {
	t.Helper()
	d, err := ctdefer.New(testOptions(cpus))
	require.NoError(t, err, "ctdefer.New(%v)", cpus)
	closeAtCleanup(t, d)
	return d
}

// unpinnedDomain is a Domain over CPU 0 that does not pin (so the test
// holds under any taskset), closed at cleanup.
func unpinnedDomain(t testing.TB, opts ctdefer.Options) *ctdefer.Domain {
	t.Helper()
	opts.CPUs, opts.Unpinned = []int{0}, true
	d, err := ctdefer.New(opts)
	require.NoError(t, err, "ctdefer.New(%+v)", opts)
	closeAtCleanup(t, d)
	return d
}

// closeAtCleanup closes d when the test ends (it may have closed d itself).
func closeAtCleanup(t testing.TB, d *ctdefer.Domain) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
}

// upToCPUs returns the first n allowed CPUs, or all of them if fewer.
func upToCPUs(t testing.TB, n int) []int {
	t.Helper()
	d, err := ctdefer.New(testOptions(nil))
	require.NoError(t, err)
	cpus := d.CPUs()
	require.NoError(t, d.Close(context.Background()))
	return cpus[:min(n, len(cpus))]
}

// allowedCPUs returns the first want allowed CPUs, skipping the test if
// there are fewer.
func allowedCPUs(t testing.TB, want int) []int {
	t.Helper()
	cpus := upToCPUs(t, want)
	if len(cpus) < want {
		t.Skipf("needs %d allowed CPUs, have %v", want, cpus)
	}
	return cpus
}

// worker claims a CPU on its own goroutine and runs the test's commands on
// it, so the test can drive an owner step by step.
type worker struct {
	cmds chan func(*ctdefer.CPU)
	done chan struct{}
}

func startWorker(t testing.TB, d *ctdefer.Domain, cpu int) *worker {
	t.Helper()
	w := &worker{cmds: make(chan func(*ctdefer.CPU)), done: make(chan struct{})}
	claimed := make(chan error)
	go func() {
		defer close(w.done)
		c, err := d.Claim(cpu)
		claimed <- err
		if err != nil {
			return
		}
		for f := range w.cmds {
			f(c)
		}
		_ = c.Release()
	}()
	require.NoError(t, <-claimed, "Claim(%d)", cpu)
	t.Cleanup(func() { close(w.cmds); <-w.done })
	return w
}

// do runs f on the worker and waits for it.
func (w *worker) do(f func(*ctdefer.CPU)) {
	ran := make(chan struct{})
	w.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	<-ran
}

// async runs f on the worker without waiting; the channel closes when f
// has returned.
func (w *worker) async(f func(*ctdefer.CPU)) <-chan struct{} {
	ran := make(chan struct{})
	w.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	return ran
}
