package ctdefer_test

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/stats"
)

// The root package's tests are laid out by subject:
//
//   - A test of SOURCE.go lives in SOURCE_test.go (package ctdefer_test,
//     through the public API) or SOURCE_internal_test.go (package ctdefer).
//     A file may carry a build constraint as a whole: mailbox_internal_test.go
//     and defer_internal_test.go are built with the tags ctdefer_explore and
//     ctdefer_narrowseq, stats_linux_test.go on Linux only. (The fault
//     injection test of park.go, TestInjectWakeUpAfterParkCheck, stays in
//     mailbox_internal_test.go with the hooks it shares with the mailbox's.)
//     A test that crosses several files lives with the one whose code it
//     pins down: the file its catalogue mutants edit, if it has any.
//   - Every Test's doc comment ends with "Mutant caught: NAME.",
//     "Mutants caught: A, B." or "Mutants caught: none.", exactly as the
//     catalogue's run: lines select it (go run ./internal/cmd/mutate -check
//     enforces it).
//   - Helpers (functions, types, variables and constants that are not
//     Test, Benchmark, Example or Fuzz functions) live in this file for
//     package ctdefer_test and in helpers_internal_test.go for package
//     ctdefer; a helper only one test needs may be a closure inside it.
//     The exceptions are bound to a build tag: raceEnabled (race_test.go,
//     norace_test.go) and the explorer hooks of mailbox_internal_test.go
//     (ctdefer_explore); and TestTorture's flag, in torture_test.go.
//   - Examples live in example_test.go, benchmarks in bench_test.go and
//     SUBJECT_bench_test.go (or beside the internal tests of their
//     subject). main_test.go, export_test.go (the export seam),
//     imports_test.go, readme_test.go and torture_test.go are package-wide.

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

// benchOwner claims the first allowed CPU for the benchmark goroutine and
// registers n no-op works.
func benchOwner(b *testing.B, n int, opts ...ctdefer.ClaimOption) (*ctdefer.Domain, *ctdefer.CPU, []ctdefer.Work) {
	b.Helper()
	o := testOptions()
	o.Debug = false
	d := newDomain(b, o)
	works := make([]ctdefer.Work, n)
	for i := range works {
		w, err := d.Register(fmt.Sprint("nop", i), func(int) {})
		if err != nil {
			b.Fatal(err)
		}
		works[i] = w
	}
	c, err := d.Claim(d.CPUs()[0], opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Release() })
	return d, c, works
}

func benchEntry(b *testing.B, n int, opts ...ctdefer.ClaimOption) {
	d, c, works := benchOwner(b, n, opts...)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.UserEnter()
		_, _ = d.Defer(c.CPU(), works[0])
		c.KernelEnter()
	}
}

// idleWorker starts a worker on cpu with Domain.Go that parks in Idle until
// the Domain closes, and waits until it is parked.
func idleWorker(t *testing.T, d *ctdefer.Domain, cpu int) {
	t.Helper()
	require.NoError(t, d.Go(cpu, func(c *ctdefer.CPU) {
		for !c.Closing() {
			_ = c.Idle(context.Background())
		}
	}), "Go(%d)", cpu)
	// Once Idle, it stays Idle until a delivery, a reschedule or Close:
	// its park loop sleeps again after a spurious wake-up.
	eventually(t, "the worker parks", func() bool { return d.State(cpu) == ctseq.Idle })
}

// The mut* helpers serve the tests of the delivery paths of cpu.go's owner
// transitions (UserEnter, Claim, Release, FlushOnEntry, AlwaysIPI). Each pins down one documented
// guarantee that a catalogue mutant breaks (named on the test), and fails every time the
// mutant is in: the owner is driven step by step from the test goroutine
// (startOwner, o.do), and every check is made right after a synchronous
// call returns, or on a value a handler recorded while it ran. A wait
// bounded by mutLimit only turns a hang into a failure; no check depends on
// a sleep or on how the scheduler runs the goroutines.

// mutLimit bounds a wait for something the real code does at once.
const mutLimit = 10 * time.Second

// mutDomain is a Domain over CPUs 0 and 1, unpinned (so that the tests run
// on a machine with one allowed CPU as well), whose IPIs never time out by
// themselves. Cleanup closes it with a short deadline: under some mutants an
// owner stays parked for good, and the test has failed already.
func mutDomain(t *testing.T) *ctdefer.Domain {
	t.Helper()
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err, "New")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// mutClaimFromExitedOwner claims cpu, whose owner has exited without
// Release, as soon as the runtime can tell its thread has ended (the Claim
// takes the CPU back), and returns the new owner.
func mutClaimFromExitedOwner(t *testing.T, d *ctdefer.Domain, cpu int) *owner {
	t.Helper()
	var o *owner
	mutEventually(t, "a Claim takes the CPU back from the exited owner", func() bool {
		try := &owner{cmds: make(chan func(c *ctdefer.CPU)), done: make(chan struct{})}
		claimed := make(chan error)
		go func() {
			defer close(try.done)
			c, err := d.Claim(cpu)
			claimed <- err
			if err != nil {
				return
			}
			for f := range try.cmds {
				f(c)
			}
			try.err = c.Release()
		}()
		err := <-claimed
		if errors.Is(err, ctdefer.ErrCPUBusy) {
			return false // the exited owner's thread has not ended yet
		}
		require.NoError(t, err, "Claim(%d)", cpu)
		o = try
		t.Cleanup(o.stop)
		return true
	})
	return o
}

// mutWait returns what ch delivers, failing the test if nothing comes
// within mutLimit (a hang).
func mutWait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mutLimit):
		t.Fatalf("%s: nothing after %v (a hang)", what, mutLimit)
	}
	panic("unreachable")
}

// mutEventually fails the test if cond does not hold within mutLimit. It
// waits for a state the real code reaches on its own, never for a race.
func mutEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, mutLimit)
		}
	}
}

func waitState(t testing.TB, d *ctdefer.Domain, cpu int, want ctseq.State) {
	t.Helper()
	require.Eventually(t, func() bool { return d.State(cpu) == want },
		5*time.Second, 50*time.Microsecond, "CPU %d never reached %v", cpu, want)
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

// idleWorkers starts a parked worker on each CPU of d, for the examples.
func idleWorkers(d *ctdefer.Domain) {
	for _, cpu := range d.CPUs() {
		if err := d.Go(cpu, func(c *ctdefer.CPU) {
			for !c.Closing() {
				_ = c.Idle(context.Background())
			}
		}); err != nil {
			panic(err)
		}
	}
}

// withGOMAXPROCS sets GOMAXPROCS for the rest of the test. The package's
// tests do not run in parallel, so nothing else sees it.
func withGOMAXPROCS(t *testing.T, n int) {
	prev := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// atomicsAllowed are the non-test files that may import sync/atomic, and why.
var atomicsAllowed = map[string]string{
	"grace/load_bare.go": "Pointer.Load's plain build: one load with no inlined wrapper; " +
		"the explorer's build (ctdefer_explore) compiles load_checked.go instead",
	"bench/liburcu/workload/gorun.go": "a benchmark beside C, never explored: its start and stop flags " +
		"are sync/atomic's functions, as the C side's are plain volatile loads",
}

// goFile is one Go file of the module and its imports.
type goFile struct {
	path    string // slash-separated, relative to the module root
	test    bool   // a _test.go file
	imports []string
}

// moduleGoFiles parses the imports of every Go file of the module, under
// every build constraint, except those in nested modules (tools,
// cmd/ctdefer: directories with a go.mod of their own), testdata and hidden
// directories.
func moduleGoFiles(t *testing.T) []goFile {
	t.Helper()
	fset := token.NewFileSet()
	var files []goFile
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		g := goFile{path: filepath.ToSlash(path), test: strings.HasSuffix(path, "_test.go")}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			g.imports = append(g.imports, p)
		}
		files = append(files, g)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(files), 20, "the walk found the module's files")
	return files
}

// logRecorder is a slog.Handler that keeps every record, for tests of
// Options.Logger.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRec
}

// logRec is one record: level, message and attributes as strings.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRec) String() string { return fmt.Sprintf("%v %q %v", r.level, r.msg, r.attrs) }

// newLogger returns a Logger that records into a new recorder.
func newLogger() (*slog.Logger, *logRecorder) {
	h := &logRecorder{}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// find returns the records whose message contains msg.
func (h *logRecorder) find(msg string) []logRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRec
	for _, r := range h.recs {
		if strings.Contains(r.msg, msg) {
			out = append(out, r)
		}
	}
	return out
}

// all returns every record, for failure messages.
func (h *logRecorder) all() []logRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRec(nil), h.recs...)
}

// await waits until a record whose message contains msg arrives (or the
// hang limit passes) and returns the first.
func (h *logRecorder) await(t *testing.T, msg string) logRec {
	t.Helper()
	for end := time.Now().Add(hangLimit); ; time.Sleep(100 * time.Microsecond) {
		if rs := h.find(msg); len(rs) > 0 {
			return rs[0]
		}
		if time.Now().After(end) {
			t.Fatalf("no log record %q after %v; records: %v", msg, hangLimit, h.all())
		}
	}
}

// one asserts that exactly one record's message contains msg and returns it.
func (h *logRecorder) one(t *testing.T, msg string) logRec {
	t.Helper()
	rs := h.find(msg)
	if len(rs) != 1 {
		t.Fatalf("want one log record %q, got %d; records: %v", msg, len(rs), h.all())
	}
	return rs[0]
}

// hangLimit and edgeDomain serve the tests of lifecycle and fault edges:
// shutdown, handler panics, owners that exit, contexts, bad input. Those
// go through the public API only, on an unpinned two-CPU Domain (so that
// they run the same under taskset -c 0), and never call work lost because
// it is late: waits are bounded by generous deadlines that only a hang can
// reach.

// hangLimit bounds waits that only a hang reaches: a test that hits it has
// found a hang, not a slow machine.
const hangLimit = 20 * time.Second

// edgeDomain is a Domain over CPUs 0 and 1, unpinned, whose waits never time
// out on their own; Close is the test's business (cleanup only makes sure
// it ran).
func edgeDomain(t *testing.T, opts ...func(*ctdefer.Options)) *ctdefer.Domain {
	t.Helper()
	o := ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour}
	for _, f := range opts {
		f(&o)
	}
	d, err := ctdefer.New(o)
	require.NoError(t, err, "New")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// within runs f on its own goroutine and fails the test if it has not
// returned within hangLimit.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(hangLimit):
		t.Fatalf("%s: still blocked after %v (a hang)", what, hangLimit)
	}
}

// noPanic runs f and turns a panic into an error, so that a bug that
// panics fails the test instead of crashing the binary.
func noPanic(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f()
	return nil
}

// recovered runs f and returns what it panicked with, or nil.
func recovered(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// eventually polls cond until it holds or hangLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(hangLimit); !cond(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, hangLimit)
		}
	}
}

// exitWithoutRelease claims cpu on a goroutine that then puts the CPU in
// the given state and returns without Release: its thread ends with it.
func exitWithoutRelease(t *testing.T, d *ctdefer.Domain, cpu int, user bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("an exited owner is detected through thread IDs, which only Linux gives without cgo")
	}
	claimed := make(chan error)
	go func() {
		c, err := d.Claim(cpu)
		if err == nil && user {
			c.UserEnter()
		}
		claimed <- err
		// Return while locked to the thread: Go ends the thread.
	}()
	require.NoError(t, <-claimed)
}

// ctxWithin returns a context that ends after dt.
func ctxWithin(t *testing.T, dt time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), dt)
	t.Cleanup(cancel)
	return ctx
}

// hookCtx is a context whose Err runs hook the first time it is called while
// armed. A parked owner checks its context in every round of its park loop,
// after the mailbox and closed checks and before it sleeps: the hook makes
// a delivery land exactly there.
type hookCtx struct {
	context.Context
	armed atomic.Bool
	hook  func()
}

func (c *hookCtx) Err() error {
	if c.armed.CompareAndSwap(true, false) {
		c.hook()
	}
	return c.Context.Err()
}

// tourFile is the program the README's tour shows; go vet ./... and
// go build ./... compile it, so the tour compiles as written.
const tourFile = "examples/tour/main.go"

// goBlocks returns the contents of the ```go fenced blocks of a Markdown
// text, each ending with a newline.
func goBlocks(md string) []string {
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.SplitAfter(md, "\n") {
		trimmed := strings.TrimRight(line, "\r\n")
		switch {
		case cur == nil && trimmed == "```go":
			cur = &strings.Builder{}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}

// benchReschedTarget claims the first test CPU on an owner goroutine, in
// user mode, and returns the domain, the CPU and a registered no-op work.
func benchReschedTarget(b *testing.B) (*ctdefer.Domain, int, ctdefer.Work, *owner) {
	b.Helper()
	opts := testOptions()
	opts.Debug = false
	d := newDomain(b, opts)
	w, err := d.Register("nop", func(int) {})
	if err != nil {
		b.Fatal(err)
	}
	cpu := d.CPUs()[0]
	o := startOwner(b, d, cpu)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	return d, cpu, w, o
}

func benchResched(b *testing.B, level ctdefer.ReschedLevel) {
	d, cpu, _, _ := benchReschedTarget(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Resched(cpu, level); err != nil {
			b.Fatal(err)
		}
	}
}

// pollingOwner makes the owner loop on poll until the benchmark ends.
func pollingOwner(b *testing.B, o *owner, poll func(c *ctdefer.CPU)) {
	var stop atomic.Bool
	ran := o.async(func(c *ctdefer.CPU) {
		for !stop.Load() { // load: until the benchmark ends
			poll(c)
		}
	})
	b.Cleanup(func() { stop.Store(true); <-ran }) // store: end the owner's loop
}

// reschedOwner returns a domain and an owner of its first test CPU, in
// kernel mode.
func reschedOwner(t *testing.T, opts ctdefer.Options) (*ctdefer.Domain, int, *owner) {
	t.Helper()
	cpu := twoCPUs(t)[0]
	d := newDomain(t, opts)
	return d, cpu, startOwner(t, d, cpu)
}

// requireResched sends a request and fails the test on error.
func requireResched(t *testing.T, d *ctdefer.Domain, cpu int, level ctdefer.ReschedLevel) {
	t.Helper()
	require.NoError(t, d.Resched(cpu, level), "Resched(%d, %v)", cpu, level)
}

// idleAsync parks the owner and waits until it is idle; the channel
// returns Idle's result.
func idleAsync(t *testing.T, d *ctdefer.Domain, cpu int, o *owner) <-chan error {
	t.Helper()
	res := make(chan error, 1)
	o.async(func(c *ctdefer.CPU) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res <- c.Idle(ctx)
	})
	require.Eventually(t, func() bool { return d.State(cpu) == ctseq.Idle },
		5*time.Second, time.Millisecond, "the owner parks")
	return res
}

// goWorkerEnds runs a Go worker on CPU 0 that enters user mode, has work
// deferred to it, and then ends its loop with end (return, runtime.Goexit,
// its own Release). It checks that the CPU was released: the deferred work
// ran (Release drains it), Close has nothing to hand back, the CPU is free.
func goWorkerEnds(t *testing.T, end func(c *ctdefer.CPU)) *logRecorder {
	t.Helper()
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	cnt := newCounter()
	w, err := d.Register("w", cnt.handler)
	require.NoError(t, err)
	inUser, deferred := make(chan struct{}), make(chan struct{})
	require.NoError(t, d.Go(0, func(c *ctdefer.CPU) {
		c.UserEnter()
		close(inUser)
		<-deferred
		end(c)
	}))
	<-inUser
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	close(deferred)
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.NoError(t, cerr, "the worker released its CPU: nothing handed back, no owner lost")
	require.Equal(t, 1, cnt.get(0), "Release ran the work deferred before the loop ended")
	require.False(t, d.Claimed(0))
	require.Zero(t, d.Stats().OwnersGone)
	return rec
}

// goPanicChild is the environment variable that makes
// TestGoReleasesOnPanic's child process run the panicking worker.
const goPanicChild = "CTDEFER_TEST_GO_PANIC_CHILD"

// goPanicWorker is the child's side of TestGoReleasesOnPanic: it prints
// what it sees to stdout and never returns (the panic ends the process).
func goPanicWorker() {
	var d *ctdefer.Domain
	logger := slog.New(handlerFunc(func(r slog.Record) {
		if strings.Contains(r.Message, "worker loop panicked") {
			fmt.Printf("released: claimed=%v\n", d.Claimed(0))
		}
	}))
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, Logger: logger})
	if err != nil {
		panic(err)
	}
	w, err := d.Register("w", func(cpu int) { fmt.Printf("work ran on CPU %d\n", cpu) })
	if err != nil {
		panic(err)
	}
	if err := d.Go(0, func(c *ctdefer.CPU) {
		c.UserEnter()
		if how, err := d.Defer(0, w); err != nil || how != ctdefer.Deferred {
			panic(fmt.Sprint("Defer: ", how, err))
		}
		panic("boom in the loop")
	}); err != nil {
		panic(err)
	}
	// The worker's panic ends the process; if it does not (a Go that
	// swallows it), say so and exit cleanly, which the parent reports.
	time.Sleep(hangLimit)
	fmt.Println("the loop's panic did not end the process")
	os.Exit(0)
}

// handlerFunc is a slog.Handler that calls a function for each record.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool { return true }

func (h handlerFunc) Handle(_ context.Context, r slog.Record) error { h(r); return nil }

func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h handlerFunc) WithGroup(string) slog.Handler { return h }

// missingFigures returns the figures of quote that report does not give.
func missingFigures(quote, report string) []string {
	text := squeeze(report)
	var missing []string
	for _, f := range figureRE.FindAllString(squeeze(quote), -1) {
		if !strings.Contains(text, f) {
			missing = append(missing, f)
		}
	}
	return missing
}

// figureRE matches a figure: a number, and its unit if it has one.
var figureRE = regexp.MustCompile(`\d[\d,]*(?:\.\d+)?(?: ?(?:%|x\b|/s\b)| (?:ns|µs|ms|s|k|M|G)\b)?`)

type quote struct{ file, text string }

// quotedBlocks returns the README's quotes of reports.
func quotedBlocks(md string) []quote {
	var out []quote
	for {
		_, rest, ok := strings.Cut(md, "<!-- quoted from ")
		if !ok {
			return out
		}
		file, rest, _ := strings.Cut(rest, " -->")
		text, rest, _ := strings.Cut(rest, "<!-- end of quote -->")
		out = append(out, quote{file: file, text: text})
		md = rest
	}
}

// squeeze turns every run of white space into one blank.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// recorder is a queue handler that records the values it ran, per CPU.
type recorder struct {
	mu  sync.Mutex
	ran map[int][]int
}

func newRecorder() *recorder { return &recorder{ran: map[int][]int{}} }

func (r *recorder) handle(cpu int, v int) {
	r.mu.Lock()
	r.ran[cpu] = append(r.ran[cpu], v)
	r.mu.Unlock()
}

func (r *recorder) get(cpu int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.ran[cpu]...)
}

// queueOwner is the queue fixture: a Domain with one queue of ints of the
// given capacity, and an owner that has claimed the first CPU.
func queueOwner(t testing.TB, capacity int, ropts ...ctdefer.RegisterOption) (cpus []int, d *ctdefer.Domain, rec *recorder, q *ctdefer.Queue[int], o *owner) {
	t.Helper()
	cpus = twoCPUs(t)
	d = newDomain(t, testOptions())
	rec = newRecorder()
	q, err := ctdefer.NewQueue(d, "values", capacity, rec.handle, ropts...)
	require.NoError(t, err, "NewQueue")
	o = startOwner(t, d, cpus[0])
	return cpus, d, rec, q, o
}

// queueStats returns the queue's entry of d.Stats().Works.
func queueStats(t testing.TB, d *ctdefer.Domain) stats.Work {
	t.Helper()
	for _, w := range d.Stats().Works {
		if w.Name == "values" {
			return w
		}
	}
	t.Fatal("no statistics for the queue's work")
	return stats.Work{}
}

// edgeQueue is a queue of ints on an edgeDomain.
func edgeQueue(t *testing.T, d *ctdefer.Domain, capacity int, ropts ...ctdefer.RegisterOption) (*recorder, *ctdefer.Queue[int]) {
	t.Helper()
	rec := newRecorder()
	q, err := ctdefer.NewQueue(d, "values", capacity, rec.handle, ropts...)
	require.NoError(t, err, "NewQueue")
	return rec, q
}

// handedBack returns the values of Close's report for the queue, in order,
// and checks that each carries reason.
func handedBack(t *testing.T, cerr error, reason error) []int {
	t.Helper()
	var ue *ctdefer.UndeliveredError
	require.ErrorAs(t, cerr, &ue, "Close reports what it handed back")
	var vals []int
	for _, p := range ue.Pending {
		require.Equal(t, "values", p.Work.String(), "only the queue's values are listed, not its work bit: %v", ue)
		require.ErrorIs(t, p.Err, reason)
		v, ok := p.Value.(int)
		require.True(t, ok, "each entry carries its value: %#v", p)
		vals = append(vals, v)
	}
	return vals
}
