package ctdefer_test

// Observability: Options.Logger's events, per-work counters, the IPI
// latency histogram, StatsVar for expvar, runtime/trace tasks. On unpinned
// edge Domains (see owner_test.go), through the public API.

import (
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"log/slog"
	"runtime"
	"runtime/trace"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// StatsVar is what expvar.Publish takes.
var _ expvar.Var = ctdefer.StatsVar{}

// A wait that gives up (IPITimeout, the caller's deadline) is logged with
// the CPU, the work and the CPU's state; a canceled one only at Debug.
// Mutant caught: log-no-wait-failure.
func TestLoggerWaitFailures(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_ = startOwner(t, d, 0) // in the kernel, never polls

	require.ErrorIs(t, d.DeferWait(context.Background(), 0, w), ctdefer.ErrIPITimeout)
	r := rec.one(t, "wait failed")
	require.Equal(t, slog.LevelWarn, r.level)
	for k, v := range map[string]string{"method": "DeferWait", "cpu": "0", "work": "w", "state": "kernel", "delivery": "ipi", "claimed": "true"} {
		require.Equal(t, v, r.attrs[k], "attribute %s of %v", k, r)
	}
	require.Contains(t, r.attrs["err"], "IPI timed out")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, d.IPI(ctx, 0, w), context.Canceled)
	r = rec.one(t, "wait canceled")
	require.Equal(t, slog.LevelDebug, r.level)
	require.Equal(t, "IPI", r.attrs["method"])
}

// A wait whose context allows more than IPITimeout logs the stall once
// IPITimeout has passed, while it goes on waiting; here the worker runs the
// work only once the stall has been logged.
// Mutant caught: log-no-stall.
func TestLoggerWaitStall(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 1)
	waited := make(chan error, 1)
	go func() { waited <- d.DeferWait(ctxWithin(t, hangLimit), 1, w) }()
	r := rec.await(t, "CPU stalled")
	require.Equal(t, slog.LevelWarn, r.level)
	require.Equal(t, "1", r.attrs["cpu"])
	require.Equal(t, "kernel", r.attrs["state"])
	require.Equal(t, "0", r.attrs["transitions"], "the owner made none during the wait")
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	require.NoError(t, <-waited, "the stalled wait goes on and ends when the work runs")
	require.Len(t, rec.find("CPU stalled"), 1, "logged once per wait")
}

// An exited owner whose CPU is taken back is logged with the work handed
// back, and so is each delivery Close hands back.
// Mutants caught: log-no-close, log-no-owner-gone.
func TestLoggerOwnerGoneAndHandBack(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	w, err := d.Register("left", func(int) {})
	require.NoError(t, err)
	exitWithoutRelease(t, d, 0, true)
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	require.Equal(t, ctdefer.IPI, requireDefer(t, d, 1, w), "CPU 1 is not claimed")
	var cerr error
	within(t, "Close", func() { cerr = d.Close(context.Background()) })
	require.ErrorIs(t, cerr, ctdefer.ErrOwnerGone)

	r := rec.one(t, "owner exited without Release")
	require.Equal(t, slog.LevelWarn, r.level)
	require.Equal(t, "0", r.attrs["cpu"])
	require.Equal(t, "left", r.attrs["work"])
	require.NotEmpty(t, r.attrs["thread"])

	backs := rec.find("Close handed work back")
	require.Len(t, backs, 2, "%v", rec.all())
	got := map[string]string{}
	for _, b := range backs {
		require.Equal(t, "left", b.attrs["work"])
		got[b.attrs["cpu"]] = b.attrs["err"]
	}
	require.Contains(t, got["0"], "owner thread")
	require.Contains(t, got["1"], "posted while no worker held it")
}

// Close still waiting for a worker after IPITimeout logs the CPUs it waits
// for, with their state; here the worker releases once that is logged.
// Mutant caught: log-no-close-stall.
func TestLoggerCloseStall(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.IPITimeout = time.Millisecond })
	o := startOwner(t, d, 1)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	closed := make(chan error, 1)
	go func() { closed <- d.Close(ctxWithin(t, hangLimit)) }()
	r := rec.await(t, "Close still waiting")
	require.Equal(t, "[1]", r.attrs["cpu"])
	require.Equal(t, "[user]", r.attrs["state"])
	o.stop()
	require.NoError(t, <-closed)
	require.Len(t, rec.find("Close still waiting"), 1, "logged once")
}

// A handler panic that Close recovers is logged.
// Mutant caught: log-no-close.
func TestLoggerClosePanic(t *testing.T) {
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger })
	w, err := d.Register("boom", func(int) { panic("boom") }, ctdefer.RemoteSafe())
	require.NoError(t, err)
	requireDefer(t, d, 0, w) // to an unclaimed CPU: Close runs it on its behalf
	require.Error(t, d.Close(context.Background()))
	r := rec.one(t, "Close recovered a handler panic")
	require.Equal(t, slog.LevelError, r.level)
	require.Contains(t, r.attrs["err"], "boom")
}

// A misuse found by the Debug checks is logged before the panic.
// Mutant caught: log-no-misuse.
func TestLoggerMisuse(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the owner check compares thread IDs, which only Linux gives without cgo")
	}
	logger, rec := newLogger()
	d := edgeDomain(t, func(o *ctdefer.Options) { o.Logger = logger; o.Debug = true })
	o := startOwner(t, d, 0)
	var c *ctdefer.CPU
	o.do(func(cpu *ctdefer.CPU) { c = cpu })
	p := recovered(func() { c.Poll() }) // from the test's goroutine: the wrong thread
	var me *ctdefer.MisuseError
	require.ErrorAs(t, p.(error), &me)
	r := rec.one(t, "misuse")
	require.Equal(t, slog.LevelError, r.level)
	require.Equal(t, "CPU.Poll", r.attrs["method"])
	require.Equal(t, "0", r.attrs["cpu"])
	require.Equal(t, "wrong thread", r.attrs["reason"])
}

// Per-work counters: each delivery path counts for its work only.
// Mutants caught: workstats-no-flushed, workstats-no-ipis, workstats-wrong-bit.
func TestWorkStats(t *testing.T) {
	d := edgeDomain(t, func(o *ctdefer.Options) { o.CPUs = []int{0, 1, 2} })
	a, err := d.Register("a", func(int) {})
	require.NoError(t, err)
	b, err := d.Register("b", func(int) {}, ctdefer.RemoteSafe())
	require.NoError(t, err)

	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, a))
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, b))
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() }) // one drain, both works
	for _, w := range []ctdefer.Work{a, b} {
		require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w), "CPU 0 is in the kernel, not parked")
		o.do(func(c *ctdefer.CPU) { c.Poll() })
	}
	idleWorker(t, d, 1)
	require.Equal(t, ctdefer.OnBehalf, requireDefer(t, d, 1, b))
	f := startOwner(t, d, 2, ctdefer.FlushOnEntry())
	f.do(func(c *ctdefer.CPU) { c.UserEnter(); c.KernelEnter() }) // runs every work

	sa, err := d.WorkStats(a)
	require.NoError(t, err)
	require.Equal(t, ctdefer.WorkStats{Name: "a", Deferred: 1, IPIs: 1, IPIRuns: 1, Flushed: 1, Runs: 3}, sa)
	sb, err := d.WorkStats(b)
	require.NoError(t, err)
	require.Equal(t, ctdefer.WorkStats{Name: "b", Deferred: 1, IPIs: 1, IPIRuns: 1, OnBehalf: 1, Flushed: 1, Runs: 4}, sb)
	require.Equal(t, "a: deferred=1 ipis=1 ipi-runs=1 on-behalf=0 flushed=1 runs=3", sa.String())

	total := d.TotalStats()
	require.Equal(t, uint64(2), total.Deferred, "the CPU totals are the per-work sums")
	require.Equal(t, uint64(2), total.IPIRuns)
	require.Equal(t, sa.Runs+sb.Runs, total.Executed, "every execution is some work's")

	other := edgeDomain(t)
	foreign, err := other.Register("foreign", func(int) {})
	require.NoError(t, err)
	for _, bad := range []ctdefer.Work{{}, foreign} {
		_, err = d.WorkStats(bad)
		require.ErrorIs(t, err, ctdefer.ErrInvalid)
		require.True(t, strings.HasPrefix(err.Error(), "ctdefer.Domain.WorkStats: w "+bad.Name()), err.Error())
	}
}

// The IPI latency histogram has one sample per IPI claim, and its Max is
// MaxIPILatency.
// Mutant caught: histogram-not-recorded.
func TestIPILatencyHistogram(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	for range 5 {
		require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w))
		o.do(func(c *ctdefer.CPU) { c.Poll() })
	}
	st, err := d.Stats(0)
	require.NoError(t, err)
	h := st.IPILatency
	require.Equal(t, uint64(5), h.Total(), "one sample per claim: %v", h)
	require.Equal(t, st.MaxIPILatency, h.Max)
	require.Positive(t, h.Max)
	require.LessOrEqual(t, h.P50(), h.P99())
	require.LessOrEqual(t, h.P99(), h.Max)
	require.Equal(t, h, d.TotalStats().IPILatency, "the total of one busy CPU is its own")
}

// The histogram's buckets, quantiles and encoding.
// Mutants caught: histogram-bucket-off-by-one, histogram-quantile-rank.
func TestLatencyHistogram(t *testing.T) {
	var h ctdefer.LatencyHistogram
	require.Zero(t, h.P50(), "empty")
	for d, bucket := range map[time.Duration]int{
		-5: 0, 0: 0, 1: 0, 2: 1, 3: 1, 4: 2, 1023: 9, 1024: 10, time.Second: 29, 1 << 31: 31, 1 << 40: 31,
	} {
		var one ctdefer.LatencyHistogram
		one.Record(d)
		require.Equal(t, uint64(1), one.Counts[bucket], "%v goes to bucket %d: %v", d, bucket, one.Counts)
		if bucket < ctdefer.LatencyBuckets-1 {
			require.Less(t, d, ctdefer.LatencyBucketBound(bucket), "%v is below its bucket's bound", d)
		}
		if bucket > 0 {
			require.GreaterOrEqual(t, d, ctdefer.LatencyBucketBound(bucket-1), "%v is not below its bucket", d)
		}
	}
	for range 98 {
		h.Record(time.Microsecond)
	}
	h.Record(time.Millisecond)
	h.Record(time.Millisecond)
	require.Equal(t, uint64(100), h.Total())
	require.Equal(t, 1024*time.Nanosecond, h.P50(), "the bound of 1µs's bucket")
	require.Equal(t, 1024*time.Nanosecond, h.Quantile(0.98))
	require.Equal(t, time.Millisecond, h.P99(), "capped by Max")
	require.Equal(t, time.Millisecond, h.Quantile(1))
	require.Equal(t, 1024*time.Nanosecond, h.Quantile(-1), "clamped to the smallest")

	var m ctdefer.LatencyHistogram
	m.Record(time.Second)
	m.Merge(h)
	require.Equal(t, uint64(101), m.Total())
	require.Equal(t, time.Second, m.Max)

	b, err := json.Marshal(h)
	require.NoError(t, err)
	var back ctdefer.LatencyHistogram
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, h, back, "the encoding decodes back")
	var summary struct{ Total, P50, P99 int64 }
	require.NoError(t, json.Unmarshal(b, &summary))
	require.Equal(t, int64(100), summary.Total)
	require.Equal(t, int64(1024), summary.P50)
	require.Equal(t, int64(time.Millisecond), summary.P99)
	require.Panics(t, func() { ctdefer.LatencyBucketBound(ctdefer.LatencyBuckets) })
}

// StatsVar serves AllStats as JSON, live.
// Mutant caught: statsvar-total-only.
func TestStatsVar(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_, err = d.Register("idle", func(int) {})
	require.NoError(t, err)
	require.Equal(t, "null", ctdefer.StatsVar{}.String(), "the zero StatsVar")
	v := d.StatsVar()
	var before ctdefer.DomainStats
	require.NoError(t, json.Unmarshal([]byte(v.String()), &before), v.String())
	require.Zero(t, before.Total.Executed)

	o := startOwner(t, d, 1)
	requireDefer(t, d, 1, w)
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	var ds ctdefer.DomainStats
	require.NoError(t, json.Unmarshal([]byte(v.String()), &ds), "String is JSON: %s", v.String())
	require.Equal(t, d.AllStats(), ds, "the JSON is AllStats")
	require.Equal(t, uint64(1), ds.Total.Executed, "live: the same Var shows the new counts")
	require.Equal(t, []ctdefer.CPUStats{
		{CPU: 0, State: "kernel", Stats: mustStats(t, d, 0)},
		{CPU: 1, Claimed: true, State: "kernel", Stats: mustStats(t, d, 1)},
	}, ds.CPUs)
	require.Equal(t, []string{"w", "idle"}, []string{ds.Works[0].Name, ds.Works[1].Name})
	require.Equal(t, uint64(1), ds.Works[0].Runs)
	require.Equal(t, uint64(1), ds.CPUs[1].Stats.IPILatency.Total())
}

func mustStats(t *testing.T, d *ctdefer.Domain, cpu int) ctdefer.Stats {
	t.Helper()
	st, err := d.Stats(cpu)
	require.NoError(t, err)
	return st
}

// While a trace is being recorded, DeferWait, its wait, DeferWaitAll and
// Close are tasks and regions that go tool trace shows, without
// Options.Trace.
// Mutants caught: trace-no-close-task, trace-no-deferwait-task.
func TestTraceTasks(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 0) // in the kernel: a wait that cannot end before the deadline
	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	require.ErrorIs(t, d.DeferWait(ctxWithin(t, 0), 0, w), context.DeadlineExceeded)
	_, err = d.DeferWaitAll(ctxWithin(t, 0), w)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	o.stop()
	require.NoError(t, d.Close(context.Background()))
	trace.Stop()
	for _, name := range []string{"ctdefer.DeferWait", "ctdefer.DeferWait: wait", "ctdefer.DeferWaitAll",
		"ctdefer.DeferWaitAll: wait", "ctdefer.Close", "ctdefer.Close: wait for workers", "ctdefer.Close: close mailboxes"} {
		// The trace's string table holds each string once, after its
		// length (a uvarint: one byte here), so that a name is not
		// found inside a longer one.
		entry := append([]byte{byte(len(name))}, name...)
		require.True(t, bytes.Contains(buf.Bytes(), entry), "the trace holds %q", name)
	}
}
