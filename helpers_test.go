package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/stats"
)

// testOptions returns Options for tests: pinned on Linux, unpinned
// elsewhere (where pinning is not supported).
func testOptions() ctdefer.Options {
	return ctdefer.Options{Unpinned: runtime.GOOS != "linux", Debug: true}
}

// newDomain creates a Domain over the given CPUs (nil: all allowed) with
// one counter work per name; Close is registered as cleanup.
func newDomain(t testing.TB, opts ctdefer.Options) *ctdefer.Domain {
	t.Helper()
	d, err := ctdefer.New(opts)
	require.NoError(t, err, "New")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// owner runs fn on a goroutine that claims cpu, and releases it after fn.
// It returns a function that waits for the owner to finish.
type owner struct {
	cmds chan func(c *ctdefer.CPU)
	done chan struct{}
	err  error
}

// startOwner claims cpu on a new goroutine and serves commands on it, so a
// test can drive the owner step by step from the test goroutine.
func startOwner(t testing.TB, d *ctdefer.Domain, cpu int, opts ...ctdefer.ClaimOption) *owner {
	t.Helper()
	o := &owner{cmds: make(chan func(*ctdefer.CPU)), done: make(chan struct{})}
	claimed := make(chan error)
	go func() {
		defer close(o.done)
		c, err := d.Claim(cpu, opts...)
		claimed <- err
		if err != nil {
			return
		}
		for f := range o.cmds {
			f(c)
		}
		o.err = c.Release()
	}()
	require.NoError(t, <-claimed, "Claim(%d)", cpu)
	t.Cleanup(o.stop)
	return o
}

// do runs f on the owner and waits for it.
func (o *owner) do(f func(c *ctdefer.CPU)) {
	ran := make(chan struct{})
	o.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	<-ran
}

// async runs f on the owner without waiting; the returned channel closes
// when f has returned.
func (o *owner) async(f func(c *ctdefer.CPU)) <-chan struct{} {
	ran := make(chan struct{})
	o.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	return ran
}

// userKernelLoop makes the owner loop, until stop is set, through round
// trips of UserEnter, polls Polls in user mode, KernelEnter and one Poll in
// kernel mode. The returned channel closes when the loop has ended.
func (o *owner) userKernelLoop(stop *atomic.Bool, polls int) <-chan struct{} {
	return o.async(func(c *ctdefer.CPU) {
		for !stop.Load() {
			c.UserEnter()
			for range polls {
				c.Poll()
			}
			c.KernelEnter()
			c.Poll()
		}
	})
}

var stopMu sync.Mutex

// stop releases the CPU (idempotent).
func (o *owner) stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	select {
	case <-o.done:
		return
	default:
	}
	close(o.cmds)
	<-o.done
}

// counter is a handler that counts its runs per CPU.
type counter struct {
	mu   sync.Mutex
	runs map[int]int
}

func newCounter() *counter { return &counter{runs: map[int]int{}} }

func (c *counter) handler(cpu int) {
	c.mu.Lock()
	c.runs[cpu]++
	c.mu.Unlock()
}

func (c *counter) get(cpu int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[cpu]
}

// twoCPUs returns two CPUs a test may claim, or skips when the machine's
// allowed set has fewer (the reason holds on any CI machine with one CPU).
func twoCPUs(t testing.TB) []int {
	t.Helper()
	d, err := ctdefer.New(testOptions())
	require.NoError(t, err)
	cpus := d.CPUs()
	require.NoError(t, d.Close(context.Background()))
	if len(cpus) < 2 {
		t.Skipf("needs two allowed CPUs, have %v", cpus)
	}
	return cpus[:2]
}

// requireDefer delivers w and fails the test on error; extra arguments
// after the work are the failure message.
func requireDefer(t testing.TB, d *ctdefer.Domain, cpu int, w ctdefer.Work, msg ...any) ctdefer.Delivery {
	t.Helper()
	how, err := d.Defer(cpu, w)
	require.NoError(t, err, msg...)
	return how
}

// requireDeferErr asserts that delivering w fails with target.
func requireDeferErr(t testing.TB, d *ctdefer.Domain, cpu int, w ctdefer.Work, target error, msg ...any) {
	t.Helper()
	_, err := d.Defer(cpu, w)
	require.ErrorIs(t, err, target, msg...)
}

// countingOwner is the common fixture: a Domain over the allowed CPUs with
// one counting work, and an owner that has claimed the first CPU.
func countingOwner(t testing.TB, opts ctdefer.Options, ropts ...ctdefer.RegisterOption) (cpus []int, d *ctdefer.Domain, cnt *counter, w ctdefer.Work, o *owner) {
	t.Helper()
	cpus = twoCPUs(t)
	d = newDomain(t, opts)
	cnt = newCounter()
	w, err := d.Register("count", cnt.handler, ropts...)
	require.NoError(t, err)
	o = startOwner(t, d, cpus[0])
	return cpus, d, cnt, w, o
}

// stopAtCleanup returns a stop flag for an owner loop that the test sets
// when it is done; the flag is also set at cleanup, before the owners are
// stopped and the Domain closed (cleanups run last registered first), so
// that a test that fails half-way ends its loops and fails, instead of
// hanging in a cleanup that waits for an owner still looping.
func stopAtCleanup(t testing.TB) *atomic.Bool {
	stop := new(atomic.Bool)
	t.Cleanup(func() { stop.Store(true) })
	return stop
}

// cpuStats returns CPU cpu's entry of d.Stats(); it panics if cpu is not
// one of d's CPUs.
func cpuStats(d *ctdefer.Domain, cpu int) stats.CPU {
	for _, c := range d.Stats().CPUs {
		if c.CPU == cpu {
			return c
		}
	}
	panic(fmt.Sprintf("cpuStats: CPU %d is not one of the domain's CPUs %v", cpu, d.CPUs()))
}

// maxCPU is the largest CPU number a Domain accepts (percpu.MaxCPU).
const maxCPU = 1<<16 - 1
