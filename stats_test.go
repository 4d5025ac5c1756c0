package ctdefer_test

// Observability: Options.Logger's events, Stats (per-work counters, the
// IPI latency histogram, JSON for expvar), runtime/trace tasks. On unpinned
// edge Domains (see owner_test.go), through the public API.

import (
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"log/slog"
	"reflect"
	"runtime"
	"runtime/trace"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/stats"
)

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

	st := d.Stats()
	require.Equal(t, []stats.Work{
		{Name: "a", Deferred: 1, IPIs: 1, IPIRuns: 1, Flushed: 1, Runs: 3},
		{Name: "b", Deferred: 1, IPIs: 1, IPIRuns: 1, OnBehalf: 1, Flushed: 1, Runs: 4},
	}, st.Works, "one entry per work, in registration order")
	require.Equal(t, uint64(2), st.Deferred, "the CPU totals are the per-work sums")
	require.Equal(t, uint64(2), st.IPIRuns)
	require.Equal(t, st.Works[0].Runs+st.Works[1].Runs, st.Executed, "every execution is some work's")
}

// Stats' totals are the sums of its CPU entries, which are in the Domain's
// CPU order and carry every counter of the totals.
// Mutant caught: stats-total-skips-cpus.
func TestStatsTotals(t *testing.T) {
	d := edgeDomain(t, func(o *ctdefer.Options) { o.CPUs = []int{0, 1, 2} })
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	require.Equal(t, ctdefer.Deferred, requireDefer(t, d, 0, w))
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	p := startOwner(t, d, 2)
	for range 2 {
		require.Equal(t, ctdefer.IPI, requireDefer(t, d, 2, w))
		p.do(func(c *ctdefer.CPU) { c.Poll() })
	}

	st := d.Stats()
	require.Equal(t, []int{0, 1, 2}, []int{st.CPUs[0].CPU, st.CPUs[1].CPU, st.CPUs[2].CPU})
	require.Equal(t, d.CPUs(), []int{st.CPUs[0].CPU, st.CPUs[1].CPU, st.CPUs[2].CPU}, "the Domain's CPU order")
	require.Equal(t, []bool{true, false, true}, []bool{st.CPUs[0].Claimed, st.CPUs[1].Claimed, st.CPUs[2].Claimed})
	require.Equal(t, uint64(1), st.CPUs[0].Deferred)
	require.Equal(t, uint64(2), st.CPUs[2].IPIRuns)
	require.Equal(t, uint64(2), st.CPUs[2].IPILatency.Total())

	// Every counter of the totals is in CPUStats, under the same name and
	// type, and the total is its sum over the CPUs.
	total, cpu := reflect.ValueOf(st), reflect.TypeOf(stats.CPU{})
	var want stats.Histogram
	for _, c := range st.CPUs {
		want.Merge(c.IPILatency)
	}
	for i := range total.NumField() {
		f := total.Type().Field(i)
		switch f.Name {
		case "CPUs", "Works", "GOMAXPROCS", "ProcessClaims", "RequireHeadroom", "GCCycles", "GCPauses":
			continue // process-wide, not counters of the CPUs
		}
		cf, ok := cpu.FieldByName(f.Name)
		require.True(t, ok, "CPUStats has %s", f.Name)
		require.Equal(t, f.Type, cf.Type, "CPUStats.%s", f.Name)
		if f.Type.Kind() != reflect.Uint64 {
			continue
		}
		var sum uint64
		for _, c := range st.CPUs {
			sum += reflect.ValueOf(c).FieldByName(f.Name).Uint()
		}
		require.Equal(t, sum, total.Field(i).Uint(), "Stats.%s is the sum over the CPUs", f.Name)
	}
	require.Equal(t, want, st.IPILatency, "the latency histograms add up")
	require.Equal(t, uint64(3), st.Executed)

	// The headroom picture: GOMAXPROCS, the claims of the whole process
	// (this Domain's among them) and whether a claim past it is refused.
	require.Equal(t, runtime.GOMAXPROCS(0), st.GOMAXPROCS)
	claimed := 0
	for _, c := range st.CPUs {
		if c.Claimed {
			claimed++
		}
	}
	require.GreaterOrEqual(t, st.ProcessClaims, claimed, "the process's claims include this Domain's")
	require.False(t, st.RequireHeadroom, "the default: a claim without headroom is counted, not refused")
}

// The IPI latency histogram has one sample per IPI claim, and its largest
// is the worst latency.
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
	st := d.Stats()
	h := st.CPUs[0].IPILatency
	require.Equal(t, uint64(5), h.Total(), "one sample per claim: %v", h)
	require.Positive(t, h.Quantile(1))
	require.LessOrEqual(t, h.Quantile(0.5), h.Quantile(0.99))
	require.LessOrEqual(t, h.Quantile(0.99), h.Quantile(1))
	require.Equal(t, h, st.IPILatency, "the total of one busy CPU is its own")
}

// Stats encodes to JSON with everything it holds, and the one-liner its
// documentation gives serves it on expvar, live.
// Mutant caught: stats-no-works.
func TestStatsJSON(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	_, err = d.Register("idle", func(int) {})
	require.NoError(t, err)
	v := expvar.Func(func() any { return d.Stats() }) // what expvar.Publish takes
	var before stats.Snapshot
	require.NoError(t, json.Unmarshal([]byte(v.String()), &before), v.String())
	require.Zero(t, before.Executed)

	o := startOwner(t, d, 1)
	requireDefer(t, d, 1, w)
	o.do(func(c *ctdefer.CPU) { c.Poll() })
	var st stats.Snapshot
	require.NoError(t, json.Unmarshal([]byte(v.String()), &st), "String is JSON: %s", v.String())
	require.Equal(t, uint64(1), st.Executed, "live: the same Var shows the new counts")
	want := d.Stats()
	for _, s := range []*stats.Snapshot{&st, &want} { // histograms encode their summary, checked below
		s.IPILatency = stats.Histogram{}
		for i := range s.CPUs {
			s.CPUs[i].IPILatency = stats.Histogram{}
		}
	}
	require.Equal(t, want, st, "the JSON is Stats")
	require.Equal(t, []int{0, 1}, []int{st.CPUs[0].CPU, st.CPUs[1].CPU})
	require.Equal(t, []bool{false, true}, []bool{st.CPUs[0].Claimed, st.CPUs[1].Claimed})
	require.Equal(t, "kernel", st.CPUs[1].State)
	require.Equal(t, []string{"w", "idle"}, []string{st.Works[0].Name, st.Works[1].Name})
	require.Equal(t, uint64(1), st.Works[0].Runs)

	var latency struct {
		IPILatency struct{ Total, P50, P99, Max int64 }
		CPUs       []struct{ IPILatency struct{ Total int64 } }
	}
	require.NoError(t, json.Unmarshal([]byte(v.String()), &latency))
	require.Equal(t, int64(1), latency.IPILatency.Total)
	require.Positive(t, latency.IPILatency.Max)
	require.Equal(t, latency.IPILatency.Max, latency.IPILatency.P99, "one sample: every quantile is it")
	require.Equal(t, []int64{0, 1}, []int64{latency.CPUs[0].IPILatency.Total, latency.CPUs[1].IPILatency.Total})
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
