package grace_test

import (
	"context"
	"errors"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/grace"
)

// unpinned: pin workers only where the platform can.
var unpinned = runtime.GOOS != "linux"

// fixture is a ctdefer.Domain over n CPUs with a grace.Domain on it.
type fixture struct {
	t    testing.TB
	d    *ctdefer.Domain
	g    *grace.Domain
	cpus []int
	wg   sync.WaitGroup
}

// newFixture creates the domains over the first n CPUs the process may use
// (all of them if n <= 0), skipping the test if it may use fewer (taskset
// -c 0). Cleanup closes both domains, grace first (a test may have closed
// either already).
func newFixture(t testing.TB, n int, opts grace.Options) *fixture {
	t.Helper()
	all, err := ctdefer.New(ctdefer.Options{Unpinned: unpinned})
	require.NoError(t, err, "probe domain")
	cpus := all.CPUs()
	require.NoError(t, all.Close(context.Background()), "close probe domain")
	if n > 0 {
		if len(cpus) < n {
			t.Skipf("the test needs %d CPUs; the process may use %v", n, cpus)
		}
		cpus = cpus[:n]
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: unpinned})
	require.NoError(t, err, "ctdefer.New")
	g, err := grace.New(d, opts)
	require.NoError(t, err, "grace.New")
	f := &fixture{t: t, d: d, g: g, cpus: cpus}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("grace Close: %v", err)
		}
		if err := d.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("ctdefer Close: %v", err)
		}
		f.wg.Wait()
	})
	return f
}

// owner claims cpu and runs fn with the owner handle, then releases it.
// It returns once the CPU is claimed. The owner must return when the
// domain closes (c.Closing) or when the test tells it to.
func (f *fixture) owner(cpu int, fn func(c *ctdefer.CPU)) {
	f.t.Helper()
	claimed := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		c, err := f.d.Claim(cpu)
		claimed <- err
		if err != nil {
			return
		}
		defer func() { _ = c.Release() }()
		fn(c)
	}()
	require.NoError(f.t, <-claimed, "Claim(%d)", cpu)
}

// switchboard tells owners which mode to be in; they ack each change.
type switchboard struct {
	mode atomic.Int32 // modeKernel, modeUser, modeIdle, modeStop
	seen atomic.Int32 // the mode the owner is in
	d    *ctdefer.Domain
	cpu  int

	mu     sync.Mutex
	unpark context.CancelFunc // ends the owner's park in modeIdle; nil otherwise
}

const (
	modeKernel int32 = iota
	modeUser
	modeIdle
	modeStop
	modeKernelCheckpoint // in the kernel, calling Checkpoint
	modeKernelPoll       // in the kernel, calling only Poll
)

// run is an owner loop driven by sb: it moves to each requested mode and
// stays there (spinning in the kernel modes, sleeping in user mode and
// parked in idle so as to leave the Ps to the test) until the next request.
// In modeIdle the owner stays parked in one Idle call, whose context set
// cancels: it enters the kernel only if something wakes it (an IPI, which
// the tests that use it do not send: work for a parked CPU is RemoteSafe
// and runs on its behalf), so a test that waits for the park (set) sees no
// kernel stretch of the owner's until it changes the mode.
func (sb *switchboard) run(g *grace.Domain) func(c *ctdefer.CPU) {
	return func(c *ctdefer.CPU) {
		for {
			m := sb.mode.Load()
			switch m {
			case modeStop:
				sb.seen.Store(m)
				return
			case modeUser:
				c.UserEnter()
				sb.seen.Store(m)
				for sb.mode.Load() == m && !c.Closing() {
					time.Sleep(50 * time.Microsecond) // user mode, off the P
				}
				c.KernelEnter()
			case modeIdle:
				ctx, cancel := context.WithCancel(context.Background())
				sb.mu.Lock()
				sb.unpark = cancel // published before the mode check below
				sb.mu.Unlock()
				sb.seen.Store(m)
				for sb.mode.Load() == m && !c.Closing() {
					_ = c.Idle(ctx) // returns on cancel, close, or an IPI
				}
				sb.mu.Lock()
				sb.unpark = nil
				sb.mu.Unlock()
				cancel()
			default:
				sb.seen.Store(m)
				for sb.mode.Load() == m && !c.Closing() {
					switch m {
					case modeKernelCheckpoint:
						g.Checkpoint(c)
					case modeKernelPoll:
						c.Poll()
					}
				}
			}
			if c.Closing() {
				return
			}
		}
	}
}

// set requests mode m and waits until the owner is in it: for modeIdle,
// until its CPU is parked (ctseq.Idle), not merely inside the idle loop.
func (sb *switchboard) set(t testing.TB, m int32) {
	t.Helper()
	sb.request(m)
	require.Eventually(t, func() bool {
		return sb.seen.Load() == m && (m != modeIdle || corelink.Of[ctdefer.CPU](sb.d).State(sb.cpu) == ctseq.Idle)
	}, 5*time.Second, 10*time.Microsecond, "owner never reached mode %d", m)
}

// request asks for mode m without waiting: it stores the mode, then ends
// a park in progress if the mode changed (a park cancelled for the mode it
// is in would turn the owner's loop into Idle calls that return at once).
// The owner publishes its cancel before it checks the mode, so either it
// sees m or this sees its cancel.
func (sb *switchboard) request(m int32) {
	if sb.mode.Swap(m) == m {
		return
	}
	sb.mu.Lock()
	if sb.unpark != nil {
		sb.unpark()
	}
	sb.mu.Unlock()
}

// ownerWith starts an owner on cpu driven by a new switchboard in mode m.
func (f *fixture) ownerWith(cpu int, m int32) *switchboard {
	f.t.Helper()
	sb := &switchboard{d: f.d, cpu: cpu}
	sb.mode.Store(m)
	sb.seen.Store(-1)
	f.owner(cpu, sb.run(f.g))
	sb.set(f.t, m)
	f.t.Cleanup(func() { sb.request(modeStop) })
	return sb
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// requireMisuse checks that v, a recovered panic value, is a
// *ctdefer.MisuseError naming method (with the package: "grace.Domain.")
// and reason.
func requireMisuse(t testing.TB, v any, method, reason string) *ctdefer.MisuseError {
	t.Helper()
	e, ok := v.(*ctdefer.MisuseError)
	require.True(t, ok, "want a panic with a *ctdefer.MisuseError, got %T %v", v, v)
	require.Equal(t, "grace.Domain."+method, e.Method, "MisuseError.Method")
	require.Equal(t, reason, e.Reason, "MisuseError.Reason")
	require.Contains(t, e.Error(), "grace.Domain."+method, "the message names the package and the method")
	return e
}

// recoverFrom runs f and returns what it panicked with, or nil.
func recoverFrom(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
