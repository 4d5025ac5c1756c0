package grace_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puzpuzpuz/xsync/v4"
	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// The helpers of package grace_test's tests, benchmarks and examples, all in
// this file. The exceptions are bound to a build tag or a test: raceEnabled
// (race_test.go, norace_test.go), the explorer scenarios' helpers
// (explore_test.go, explore_qsbr_test.go: ctdefer_explore) and the torture
// tests' flag, tortureFor (torture_test.go).

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

// allowedCPUs is the process's allowed set, via a probe Domain.
func allowedCPUs(tb testing.TB) []int {
	tb.Helper()
	f := newFixture(tb, 0, grace.Options{NudgeAfter: -1})
	return f.cpus
}

// sink keeps the compiler from discarding loads whose results are unused.
var sink int

// benchFixture: in user mode, the first CPU runs user mode and the second
// is idle, parked in one Idle call for the whole benchmark (ownerWith waits
// until its word says Idle), so that no operation can find either in the
// kernel: the user-idle figures are those of the skip path, 0 nudges/op and
// 0 ipis/op by construction. In a kernel mode, the domain has only the
// first CPU, spinning in the kernel: on a 2-CPU machine the benchmark's
// goroutine must have the other CPU to itself, or the OS time-slices it
// with the spinning owner and every round trip costs a scheduler tick.
func benchFixture(b testing.TB, mode int32, opts grace.Options) *fixture {
	if mode == modeUser {
		f := newFixture(b, 2, opts)
		// The user-mode owner blocks on a channel, off its P, as an
		// isolated worker between kernel entries: the switchboard's
		// owner would wake every 50 µs to look for a new mode, and those
		// wake-ups would land on the benchmark's CPU (there are two).
		inUser, release := make(chan struct{}), make(chan struct{})
		f.owner(f.cpus[0], func(c *ctdefer.CPU) {
			c.UserEnter()
			close(inUser)
			<-release
			c.KernelEnter()
		})
		<-inUser
		b.Cleanup(func() { close(release) }) // before the fixture's own cleanup
		f.ownerWith(f.cpus[1], modeIdle)
		return f
	}
	f := newFixture(b, 1, opts)
	f.ownerWith(f.cpus[0], mode)
	return f
}

// rwScheme is the baseline: readers hold RLock around their use of the
// published object; the writer's "grace period" is Lock+Unlock.
type rwScheme struct {
	mu  sync.RWMutex
	obj *int
	gen int
}

// withOwner claims the fixture's first CPU on the benchmark's own goroutine
// and runs fn with it.
func withOwner(b *testing.B, f *fixture, fn func(c *ctdefer.CPU)) {
	c, err := f.d.Claim(f.cpus[0])
	if err != nil {
		if errors.Is(err, ctdefer.ErrNotSupported) {
			b.Skip(err)
		}
		b.Fatal(err)
	}
	defer func() { _ = c.Release() }()
	b.ReportAllocs()
	fn(c)
}

// mutLimit bounds a wait for something the real code does at once.
const mutLimit = 10 * time.Second

// mutFixture is newFixture over CPUs 0 to n-1, unpinned: the tests need n
// CPUs of a Domain, not n CPUs of the machine.
func mutFixture(t *testing.T, n int, opts grace.Options) *fixture {
	t.Helper()
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
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

// closeOnCleanup closes ch at cleanup unless the test has closed it, so
// that a goroutine the test holds on ch is let go even when the test fails
// early (and cleanup does not wait for it forever).
func closeOnCleanup(t *testing.T, ch chan struct{}) {
	t.Cleanup(func() {
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(mutLimit):
		t.Fatalf("%s: not after %v", what, mutLimit)
	}
}

func mutEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, mutLimit)
		}
	}
}

type route struct {
	hops []int
	dead bool // set when the table is reclaimed
}

// config is what an updater publishes and readers use in kernel mode.
type config struct{ version int }

// exampleWorld is one CPU (unpinned, so the examples run anywhere) whose
// owner sits in user mode until told to stop.
func exampleWorld() (d *ctdefer.Domain, g *grace.Domain, stop func()) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	if g, err = grace.New(d, grace.Options{}); err != nil { // before any Claim
		panic(err)
	}
	inUser, quit, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		defer c.Release()
		c.UserEnter() // the hot loop: a quiescent state
		close(inUser)
		<-quit
		c.KernelEnter()
	}()
	<-inUser
	return d, g, func() {
		_ = g.Close(context.Background())
		close(quit)
		<-done
		_ = d.Close(context.Background())
	}
}

// simulatedKernel is a Domain of n unpinned CPUs whose owners stay in the
// kernel, polling (and yielding, so that n owners share the real CPUs):
// every ExpeditedBarrier must post an IPI to each and wait for all.
func simulatedKernel(tb testing.TB, n int) *grace.Domain {
	return simulated(tb, n, func(c *ctdefer.CPU, ready func(), stop *atomic.Bool) {
		ready()
		for !stop.Load() && !c.Closing() {
			c.Poll()
			runtime.Gosched()
		}
	})
}

// simulatedUser is a Domain of n unpinned CPUs whose owners are in user
// mode, blocked there as isolated workers are between kernel entries: a
// grace period or an expedited barrier reads two lines per CPU and sends
// nothing.
func simulatedUser(tb testing.TB, n int) *grace.Domain {
	release := make(chan struct{})
	g := simulated(tb, n, func(c *ctdefer.CPU, ready func(), _ *atomic.Bool) {
		c.UserEnter()
		ready()
		<-release
		c.KernelEnter()
	})
	tb.Cleanup(func() { close(release) }) // runs before simulated's cleanup
	return g
}

// simulated claims n unpinned CPUs, each on a goroutine of its own that runs
// owner (which calls ready once in its steady state, and returns when stop
// is set), then releases the CPU. It returns once every owner is ready.
func simulated(tb testing.TB, n int, owner func(c *ctdefer.CPU, ready func(), stop *atomic.Bool)) *grace.Domain {
	tb.Helper()
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
	require.NoError(tb, err)
	// A spin longer than any barrier here: the wait never sleeps.
	g, err := grace.New(d, grace.Options{SpinWait: time.Minute})
	require.NoError(tb, err)
	var stop atomic.Bool
	var wg sync.WaitGroup
	ready := make(chan error, 1)
	for _, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Claim(cpu)
			if err != nil {
				ready <- err
				return
			}
			defer func() { _ = c.Release() }()
			owner(c, func() { ready <- nil }, &stop)
		}()
		require.NoError(tb, <-ready)
	}
	tb.Cleanup(func() {
		stop.Store(true)
		wg.Wait()
		_ = g.Close(context.Background())
		_ = d.Close(context.Background())
	})
	return g
}

// faultLimit is the context of a wait the real code ends long before.
const faultLimit = 20 * time.Second

// result runs fn on a new goroutine and returns the channel of its error.
func result(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// recv returns the error from ch, failing the test if none comes within
// twice faultLimit (a call with no context of its own that never returns).
func recv(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(2 * faultLimit):
		t.Fatalf("%s: no return after %v", what, 2*faultLimit)
		return nil
	}
}

// exitingOwner claims cpu on a new goroutine, runs in (in kernel mode, on
// the owner's thread), then waits for the returned function's call and
// exits with runtime.Goexit, without Release: the goroutine is locked to its
// thread, which ends with it. Nothing keeps the handle alive afterwards.
func exitingOwner(t *testing.T, d *ctdefer.Domain, cpu int, in func(c *ctdefer.CPU)) (exit func()) {
	t.Helper()
	claimed := make(chan error, 1)
	quit := make(chan struct{})
	closeOnCleanup(t, quit)
	go func() {
		c, err := d.Claim(cpu)
		claimed <- err
		if err != nil {
			return
		}
		if in != nil {
			in(c)
		}
		<-quit
		runtime.Goexit()
	}()
	require.NoError(t, <-claimed, "Claim(%d)", cpu)
	return func() { close(quit) }
}

// startedGracePeriod waits until the Domain has started a grace period it
// has not completed: a wait is then under way.
func startedGracePeriod(t *testing.T, g *grace.Domain) {
	t.Helper()
	mutEventually(t, "a grace period in progress", func() bool {
		st := g.Stats()
		return st.Started > st.GracePeriods
	})
}

// funcBody is the -S listing of the function whose name ends in name.
func funcBody(out, name string) []string {
	var body []string
	in := false
	for l := range strings.Lines(out) {
		if strings.Contains(l, " STEXT ") {
			in = strings.Contains(l, name+" STEXT")
			continue
		}
		if in {
			body = append(body, l)
		}
	}
	return body
}

// nops counts the one-byte NOPs that inline marks leave (XCHGL AX, AX).
func nops(body []string) int {
	n := 0
	for _, l := range body {
		if strings.Contains(l, "XCHGL\tAX, AX") {
			n++
		}
	}
	return n
}

func containsLine(out, file, what string) bool {
	for l := range strings.Lines(out) {
		if strings.Contains(l, file) && strings.Contains(l, what) {
			return true
		}
	}
	return false
}

// records is a slog.Handler that keeps every record's level and message
// with its attributes.
type records struct {
	mu   sync.Mutex
	logs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }

func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }

func (r *records) WithGroup(string) slog.Handler { return r }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	r.logs = append(r.logs, b.String())
	r.mu.Unlock()
	return nil
}

func (r *records) find(sub string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.logs {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// selfWaitLimit bounds how long the tests below wait for a wait by an
// online reader, which must not wait for itself: with the bug it never
// returns (its context has no deadline), so the test fails here instead of
// hanging. A grace period over one offline reader takes microseconds.
const selfWaitLimit = 20 * time.Second

// onOwner runs fn on the owner of the fixture's first CPU, with its reader
// online, and returns what fn returned or the panic it raised. ctx has no
// deadline; it is canceled only if fn has not returned after selfWaitLimit,
// so that a wait that waits for its caller ends with the failed test.
func (f *qfixture) onOwner(t *testing.T, fn func(ctx context.Context, r *grace.Reader) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		c, err := f.d.Claim(f.cpus[0])
		if err != nil {
			done <- err
			return
		}
		defer func() { _ = c.Release() }()
		r := f.q.Reader(c)
		defer r.Offline()
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("panic: %v", v)
			}
		}()
		done <- fn(ctx, r)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(selfWaitLimit):
		t.Fatalf("the owner's call did not return in %v: it waits for its own reader", selfWaitLimit)
		return nil
	}
}

// qfixture is a ctdefer.Domain over n CPUs with a QSBR domain on it.
type qfixture struct {
	t    testing.TB
	d    *ctdefer.Domain
	q    *grace.Domain
	cpus []int
	wg   sync.WaitGroup
}

func newQFixture(t testing.TB, n int, opts grace.Options) *qfixture {
	t.Helper()
	f := newFixture(t, n, grace.Options{NudgeAfter: -1})
	q, err := grace.NewQSBR(f.d, opts)
	require.NoError(t, err, "grace.NewQSBR")
	qf := &qfixture{t: t, d: f.d, q: q, cpus: f.cpus}
	t.Cleanup(func() {
		if err := q.Close(ctxFor(t, 5*time.Second)); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("QSBR Close: %v", err)
		}
		qf.wg.Wait() // before the ctdefer Domain closes (registered earlier, runs later)
	})
	return qf
}

// Reader modes, set by the test and acknowledged by the owner.
const (
	qStuck     int32 = iota // online in user mode, holding references, no report
	qReporting              // online in user mode, reporting in a tight loop
	qOffline                // offline in user mode
	qIdle                   // online, parked in Idle
	qReportOne              // report once, then stuck
	qRelease                // release the CPU without Offline
)

// qreader is an owner goroutine whose reader does what mode says.
type qreader struct {
	mode, seen atomic.Int32
	reports    atomic.Int64 // completed rounds of Quiescent in qReporting
	cpu        int
	d          *ctdefer.Domain
	unpark     atomic.Pointer[context.CancelFunc]
}

// reader claims cpu, registers its reader in mode m and waits until the
// owner is in it.
func (f *qfixture) reader(cpu int, m int32) *qreader {
	f.t.Helper()
	qr := &qreader{cpu: cpu, d: f.d}
	qr.mode.Store(m)
	qr.seen.Store(-1)
	claimed := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		c, err := f.d.Claim(cpu)
		claimed <- err
		if err != nil {
			return
		}
		r := f.q.Reader(c)
		c.UserEnter()
		defer func() {
			if grace.CPUState(qr.d, c.CPU()) == ctseq.User {
				c.KernelEnter()
			}
			if qr.mode.Load() != qRelease {
				r.Offline()
			}
			_ = c.Release()
		}()
		for !c.Closing() {
			m := qr.mode.Load()
			switch m {
			case qRelease:
				qr.seen.Store(m)
				return
			case qReporting:
				r.Online()
				qr.seen.Store(m)
				for qr.mode.Load() == m && !c.Closing() {
					for range 64 {
						r.Quiescent()
					}
					qr.reports.Add(1)
				}
			case qReportOne: // the reader is online already (Reader, qStuck)
				r.Quiescent()
				qr.seen.Store(m)
				for qr.mode.Load() == m && !c.Closing() {
					time.Sleep(50 * time.Microsecond)
				}
			case qOffline:
				r.Offline()
				qr.seen.Store(m)
				for qr.mode.Load() == m && !c.Closing() {
					time.Sleep(50 * time.Microsecond)
				}
			case qIdle:
				if !r.IsOnline() {
					r.Online() // from Offline; from online, parks without a report
				}
				ctx, cancel := context.WithCancel(context.Background())
				qr.unpark.Store(&cancel)
				c.KernelEnter()
				qr.seen.Store(m)
				for qr.mode.Load() == m && !c.Closing() {
					_ = c.Idle(ctx)
				}
				qr.unpark.Store(nil)
				cancel()
				c.UserEnter()
			default: // qStuck
				r.Online()
				qr.seen.Store(m)
				for qr.mode.Load() == m && !c.Closing() {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}
	}()
	require.NoError(f.t, <-claimed, "Claim(%d)", cpu)
	qr.set(f.t, m)
	f.t.Cleanup(func() { qr.request(qRelease) })
	return qr
}

func (qr *qreader) request(m int32) {
	qr.mode.Store(m)
	if p := qr.unpark.Load(); p != nil {
		(*p)()
	}
}

// set requests mode m and waits until the owner is in it (parked, for
// qIdle; off the Domain, for qRelease).
func (qr *qreader) set(t testing.TB, m int32) {
	t.Helper()
	qr.request(m)
	require.Eventually(t, func() bool {
		switch {
		case qr.seen.Load() != m:
			return false
		case m == qIdle:
			return corelink.Of[ctdefer.CPU](qr.d).State(qr.cpu) == ctseq.Idle
		case m == qRelease:
			return !corelink.Of[ctdefer.CPU](qr.d).Claimed(qr.cpu)
		}
		return true
	}, 10*time.Second, 10*time.Microsecond, "reader never reached mode %d", m)
}

// panicOnOwner claims the fixture's first CPU, registers its reader, runs
// fn on the owner and returns what fn panicked with (nil if it did not).
func (f *qfixture) panicOnOwner(t *testing.T, fn func(r *grace.Reader)) any {
	t.Helper()
	var v any
	err := f.onOwner(t, func(_ context.Context, r *grace.Reader) error {
		defer func() { v = recover() }()
		fn(r)
		return nil
	})
	require.NoError(t, err)
	return v
}

// reclaimerWaiting reports whether the reclaimer goroutine is blocked
// waiting for retires (its only channel receive), from a dump of every
// goroutine: the state the public API cannot show.
func reclaimerWaiting() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, frames, _ := strings.Cut(g, "\n")
		if !strings.Contains(header, "[chan receive") {
			continue
		}
		// The first frame outside the runtime is the loop itself: blocked
		// in its own receive, not in a callback's.
		for _, l := range strings.Split(frames, "\n") {
			if strings.HasPrefix(l, "runtime.") || strings.HasPrefix(l, "\t") {
				continue
			}
			if strings.Contains(l, "grace.(*reclaimer).loop(") {
				return true
			}
			break
		}
	}
	return false
}

// tortureObject is what the updater publishes.
type tortureObject struct {
	gen uint64
	// retiredAt is 0 while the object is published; once the updater has
	// unpublished it, 1 + the number of grace periods completed, loaded
	// right after the unpublishing Swap.
	retiredAt atomic.Uint64
	poison    atomic.Bool // set when the object is freed
}

// pipeLen is the number of "Reader Pipe" buckets: 0, 1, 2, 3 or more grace
// periods completed since the object read was unpublished.
const pipeLen = 4

// tortureFlavour is what the torture's updater uses of a grace-period
// flavour: *grace.Domain has it.
type tortureFlavour interface {
	Retire(fn func()) error
	Synchronize(ctx context.Context) error
	Start() grace.Token
	Completed(t grace.Token) bool
	Poll(t grace.Token) bool
	Wait(ctx context.Context, t grace.Token) error
	Barrier(ctx context.Context) error
}

// tortureUpdate counts what the updater did.
type tortureUpdate struct {
	updates, retires, syncs, polled, pollWaited, barriers, freed uint64
	latency                                                      time.Duration
}

func (u tortureUpdate) String() string {
	return fmt.Sprintf("  updates %d: retire %d, synchronize %d (mean %v), start/poll %d (%d still waiting for a reader when Start returned), barriers %d; freed %d\n",
		u.updates, u.retires, u.syncs, u.latency/time.Duration(max(u.syncs, 1)), u.polled, u.pollWaited, u.barriers, u.freed)
}

// tortureUpdates is the torture's updater, for dur: it replaces the object
// (a random pause of 0 to 10µs between updates: rcutorture's writer delay,
// without which the updater falls into step with the readers) and frees
// (poisons) every object it unpublished, by Retire (half of them),
// Synchronize then free, or Start then free once Poll says so; Barrier
// every 64 updates. At the end it waits for everything: every unpublished
// object is freed when it returns. gps is the flavour's completed count,
// loaded right after each unpublishing Swap for the staleness histogram.
func tortureUpdates(t *testing.T, fl tortureFlavour, cur *atomic.Pointer[tortureObject], gps func() uint64, dur time.Duration) tortureUpdate {
	var u tortureUpdate
	var freed atomic.Uint64
	free := func(o *tortureObject) {
		o.poison.Store(true)
		freed.Add(1)
	}
	type pollFree struct {
		tok grace.Token
		obj *tortureObject
	}
	var polls []pollFree
	urng := rand.New(rand.NewPCG(0, 2))
	ctx := ctxFor(t, dur+30*time.Second)
	start := time.Now()
	for gen := uint64(1); time.Since(start) < dur; gen++ {
		old := cur.Swap(&tortureObject{gen: gen})
		old.retiredAt.Store(gps() + 1)
		u.updates++
		switch gen % 4 {
		case 0, 1:
			require.NoError(t, fl.Retire(func() { free(old) }), "Retire")
			u.retires++
		case 2:
			s := time.Now()
			require.NoError(t, fl.Synchronize(ctx), "Synchronize")
			u.latency += time.Since(s)
			u.syncs++
			free(old)
		case 3:
			tok := fl.Start()
			if !fl.Completed(tok) {
				u.pollWaited++
			}
			polls = append(polls, pollFree{tok, old})
			u.polled++
		}
		// Free what the tokens allow, oldest first (tokens only grow).
		for len(polls) > 0 && fl.Poll(polls[0].tok) {
			free(polls[0].obj)
			polls = polls[1:]
		}
		if gen%64 == 0 {
			require.NoError(t, fl.Barrier(ctx), "Barrier")
			u.barriers++
		}
		for pause, t0 := time.Duration(urng.IntN(10_000)), time.Now(); time.Since(t0) < pause; {
		}
	}
	for _, p := range polls {
		require.NoError(t, fl.Wait(ctx, p.tok), "Wait")
		free(p.obj)
	}
	require.NoError(t, fl.Barrier(ctx), "final Barrier")
	u.freed = freed.Load()
	return u
}

var readerCounts = []int{1, 2, 4, 8, 16, 32, 64}

// parallel runs body(i, n) on goroutines i = 0..readers-1, splitting b.N
// among them, and times the whole.
func parallel(b *testing.B, readers int, setup func(i int) func(n int)) {
	bodies := make([]func(int), readers)
	for i := range bodies {
		bodies[i] = setup(i)
	}
	var start, done sync.WaitGroup
	start.Add(1)
	for i, body := range bodies {
		n := b.N / readers
		if i < b.N%readers {
			n++
		}
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			body(n)
		}()
	}
	b.ResetTimer()
	start.Done()
	done.Wait()
}

// membModes builds a memb Domain in each read-side mode.
var membModes = []struct {
	name string
	make func(opts grace.Options) *grace.Domain
}{
	{"membarrier", func(opts grace.Options) *grace.Domain {
		g, err := grace.NewMemb(opts)
		if err != nil {
			panic(err)
		}
		return g
	}},
	{"fenced", grace.NewMembFenced},
}

// forEachMembMode runs f on a fresh Domain of each mode, closed at the end.
func forEachMembMode(t *testing.T, opts grace.Options, f func(t *testing.T, g *grace.Domain)) {
	for _, mode := range membModes {
		t.Run(mode.name, func(t *testing.T) {
			g := mode.make(opts)
			t.Cleanup(func() {
				if err := g.Close(ctxFor(t, faultLimit)); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			f(t, g)
		})
	}
}

// membReader runs a goroutine holding h that does what its commands say,
// in order; each command is acknowledged once done.
type membReader struct {
	cmds chan func()
	done chan struct{}
}

func newMembReader(t *testing.T, h *grace.Handle) *membReader {
	r := &membReader{cmds: make(chan func()), done: make(chan struct{})}
	go func() {
		for c := range r.cmds {
			c()
			r.done <- struct{}{}
		}
	}()
	t.Cleanup(func() { close(r.cmds) })
	return r
}

func (r *membReader) do(f func()) {
	r.cmds <- f
	<-r.done
}

// notYet checks that ch has delivered nothing after a pause: a wait that
// returned early (before the reader left its section) fails the test; a
// slow machine only makes the check weaker, never failing.
func notYet(t *testing.T, what string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) while a reader that began before it was still inside its section", what, err)
	case <-time.After(20 * time.Millisecond):
	}
}

// requireMisuseOf checks that v is a *ctdefer.MisuseError naming method.
func requireMisuseOf(t *testing.T, v any, method string) {
	t.Helper()
	e, ok := v.(*ctdefer.MisuseError)
	require.True(t, ok, "%s: want a panic with a *ctdefer.MisuseError, got %T %v", method, v, v)
	require.Equal(t, method, e.Method)
	require.Contains(t, e.Error(), method)
}

// registerAndDrop registers a Handle, optionally enters a section, and
// drops it without Unregister.
//
//go:noinline
func registerAndDrop(t *testing.T, g *grace.Domain, lock bool) {
	h, err := g.Register()
	require.NoError(t, err)
	if lock {
		h.Lock()
	}
}

func membTorture(t *testing.T, g *grace.Domain, dur time.Duration) {
	const readers = 64
	gps := func() uint64 { return grace.MembCompleted(g) }
	var cur atomic.Pointer[tortureObject]
	cur.Store(&tortureObject{})
	var stop atomic.Bool
	type readerStats struct {
		reads, retiredReads, sections, nested, yields, sleeps, reregs, poisoned uint64
		pipe                                                                    [pipeLen]uint64
	}
	rs := make([]readerStats, readers)
	var wg sync.WaitGroup
	for i := range readers {
		h, err := g.Register()
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &rs[i]
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			read := func(p *tortureObject, n int) {
				for range n {
					st.reads++
					if p.poison.Load() {
						st.poisoned++
					}
					age := uint64(0)
					if ra := p.retiredAt.Load(); ra != 0 {
						age = gps() - (ra - 1)
						st.retiredReads++
					}
					st.pipe[min(age, pipeLen-1)]++
				}
			}
			for !stop.Load() {
				h.Lock()
				p := cur.Load()
				read(p, 1+rng.IntN(32))
				switch x := rng.IntN(1024); {
				case x == 0:
					time.Sleep(50 * time.Microsecond) // blocks inside the section
					st.sleeps++
				case x < 16:
					runtime.Gosched() // preempted inside the section, perhaps moved
					st.yields++
				case x < 256:
					h.Lock()
					read(cur.Load(), 4)
					h.Unlock()
					st.nested++
				}
				read(p, 1+rng.IntN(32))
				h.Unlock()
				st.sections++
				if rng.IntN(4096) == 0 {
					h.Unregister()
					var err error
					if h, err = g.Register(); err != nil {
						t.Error(err)
						return
					}
					st.reregs++
				}
			}
			h.Unregister()
		}()
	}

	up := tortureUpdates(t, g, &cur, gps, dur)
	stop.Store(true)
	wg.Wait()

	var total readerStats
	for _, s := range rs {
		total.reads += s.reads
		total.retiredReads += s.retiredReads
		total.sections += s.sections
		total.nested += s.nested
		total.yields += s.yields
		total.sleeps += s.sleeps
		total.reregs += s.reregs
		total.poisoned += s.poisoned
		for k := range s.pipe {
			total.pipe[k] += s.pipe[k]
		}
	}
	st := g.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "memb torture: %v, %d reader goroutines, GOMAXPROCS %d, membarrier %v\n", dur, readers, runtime.GOMAXPROCS(0), st.Membarrier)
	b.WriteString(up.String())
	fmt.Fprintf(&b, "  grace periods %d (started %d), membarrier calls %d, waiter sleeps %d, retired %d, reclaimed %d\n",
		st.GracePeriods, st.Started, st.Membarriers, st.Sleeps, st.Retired, st.Reclaimed)
	fmt.Fprintf(&b, "  readers: %d sections (%d nested, %d yields and %d sleeps inside), %d re-registrations; %d reads, %d of unpublished objects; poisoned reads %d\n",
		total.sections, total.nested, total.yields, total.sleeps, total.reregs, total.reads, total.retiredReads, total.poisoned)
	fmt.Fprintf(&b, "  Reader Pipe (grace periods since unpublished, per read; 0 includes published): %v; any entry past bucket 1 is a bug\n", total.pipe)
	ok := total.poisoned == 0 && total.pipe[2] == 0 && total.pipe[3] == 0 &&
		up.freed == up.updates && st.Retired == st.Reclaimed
	if ok {
		b.WriteString("  SUCCESS")
	} else {
		b.WriteString("  FAILURE")
	}
	t.Log(b.String())
	require.True(t, ok, "torture failed:\n%s", b.String())
	require.Positive(t, total.pipe[0], "readers never saw a current object")
	require.Positive(t, total.retiredReads, "readers never held an object across its unpublishing: the torture tests nothing")
	require.NoError(t, g.Close(ctxFor(t, faultLimit)))
}

// newBenchMemb is the memb Domain of the read-side benchmarks.
func newBenchMemb(b *testing.B) *grace.Domain {
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("membarrier %v", g.Stats().Membarrier)
	return g
}

// benchHandle times Lock+Unlock by readers goroutines, each its own Handle.
func benchHandle(b *testing.B, g *grace.Domain, readers int) {
	b.ReportAllocs()
	hs := make([]*grace.Handle, readers)
	parallel(b, readers, func(i int) func(int) {
		h, err := g.Register()
		if err != nil {
			b.Fatal(err)
		}
		hs[i] = h
		return func(n int) {
			for range n {
				h.Lock()
				//lint:ignore SA2001 an empty section is the point: the read side's own cost
				h.Unlock()
			}
		}
	})
	b.StopTimer()
	for _, h := range hs {
		h.Unregister()
	}
}

// benchRWMutex times sync.RWMutex's RLock+RUnlock, one lock shared by
// readers goroutines.
func benchRWMutex(b *testing.B, readers int) {
	b.ReportAllocs()
	var mu sync.RWMutex
	parallel(b, readers, func(int) func(int) {
		return func(n int) {
			for range n {
				mu.RLock()
				//lint:ignore SA2001 an empty section is the point: the read side's own cost
				mu.RUnlock()
			}
		}
	})
}

// benchRBMutex times xsync's reader-biased RWMutex the same way.
func benchRBMutex(b *testing.B, readers int) {
	b.ReportAllocs()
	mu := xsync.NewRBMutex()
	parallel(b, readers, func(int) func(int) {
		return func(n int) {
			for range n {
				t := mu.RLock()
				mu.RUnlock(t)
			}
		}
	})
}
