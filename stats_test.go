package ctdefer_test

// Stats: per-work counters, totals, JSON for expvar. On unpinned edge
// Domains (helpers_test.go), through the public API. The logger's events
// are tested in log_test.go, the latency histogram in latency_test.go,
// runtime/trace tasks in trace_test.go.

import (
	"encoding/json"
	"expvar"
	"reflect"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/stats"
)

// Per-work counters: each delivery path counts for its work only.
// Mutants caught: workstats-no-flushed, workstats-no-ipis,
// workstats-wrong-bit.
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
		// The Go runtime's noise moves between two reads (the process's GC,
		// the owner thread's switches): present in the JSON, compared as
		// present, not as equal.
		require.Positive(t, s.GOMAXPROCS)
		s.GCCycles, s.GCPauses = 0, 0
		for i := range s.CPUs {
			s.CPUs[i].IPILatency = stats.Histogram{}
			s.CPUs[i].OwnerVoluntarySwitches, s.CPUs[i].OwnerInvoluntarySwitches = 0, 0
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
