package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	ctdhost "github.com/ctdefer/ctdefer/host"
)

// fmtNs writes a duration in nanoseconds with three significant figures
// and a unit that suits it (the unit is chosen after rounding, so 999.7 ns
// is "1 µs", not "1e+03 ns").
func fmtNs(ns float64) string {
	switch {
	case math.IsNaN(ns) || ns <= 0:
		return "-"
	case ns < 9.995:
		return fmt.Sprintf("%.2f ns", ns)
	}
	return scaled(ns, []unit{{1e9, " s"}, {1e6, " ms"}, {1e3, " µs"}, {1, " ns"}})
}

func fmtDur(d time.Duration) string { return fmtNs(float64(d)) }

// fmtRate writes a per-second figure: 1.23 M, 456 k, 78.
func fmtRate(v float64) string {
	if v <= 0 || math.IsNaN(v) {
		return "-"
	}
	return scaled(v, []unit{{1e9, " G"}, {1e6, " M"}, {1e3, " k"}, {1, ""}})
}

type unit struct {
	f    float64
	name string
}

// scaled writes v in the largest unit it reaches once rounded to three
// significant figures.
func scaled(v float64, units []unit) string {
	for _, u := range units {
		if r, _ := strconv.ParseFloat(strconv.FormatFloat(v/u.f, 'g', 3, 64), 64); r >= 1 || u.f == 1 {
			return strconv.FormatFloat(r, 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// ratio writes a/b as "3.2x", "-" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.0fx", r)
	}
	return fmt.Sprintf("%.2gx", r)
}

func pct(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

// WriteReport writes the Markdown report.
func WriteReport(w io.Writer, r *Results) error {
	b := &strings.Builder{}
	m := r.Machine
	fmt.Fprintf(b, "# ctdefer bench\n\n")
	fmt.Fprintf(b, "`ctdefer bench` (%s run), %s, took %s.\n\n", r.Config, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	fmt.Fprintf(b, "Absolute figures depend on the machine (its CPU, virtualisation, other tenants); "+
		"the ratios between the columns of one run are the point. Measure your own: from a clone of ctdefer, "+
		"`go run -C cmd/ctdefer . bench` (`-quick` for a short run).\n\n")

	fmt.Fprintf(b, "## Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s; %d CPUs online (%s), %d allowed (%s) |\n", orDash(m.CPUModel), len(m.Online), orDash(ctdhost.FormatCPUList(m.Online)), len(m.Allowed), orDash(ctdhost.FormatCPUList(m.Allowed)))
	fmt.Fprintf(b, "| kernel | %s |\n", orDash(m.Kernel))
	fmt.Fprintf(b, "| Go | %s %s/%s, GOMAXPROCS %d during the run |\n", m.GoVersion, m.OS, m.Arch, m.GOMAXPROCS)
	fmt.Fprintf(b, "| ctdefer | %s |\n", m.Ctdefer)
	if r.LoadStart != "" {
		fmt.Fprintf(b, "| load average | %s at the start, %s at the end (1, 5, 15 minutes; the machine has %d CPUs online) |\n", r.LoadStart, orDash(r.LoadEnd), len(m.Online))
	}
	fmt.Fprintf(b, "| clock | %s; one `time.Now` costs %.0f ns (taken off per-call timings) |\n", orDash(m.Clocksource), r.ClockNs)
	pin := "pinned"
	if !r.Pinned {
		pin = "not pinned (this OS has no affinity: figures are indicative only)"
	}
	fmt.Fprintf(b, "| CPUs used | sender and updater on CPU %d, hot loop and reader on CPU %d, %s; %s |\n\n", r.SenderCPU, r.TargetCPU, pin, r.Isolation)

	writeHot(b, r)
	writeGrace(b, r)
	writeScale(b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (h HotResults) find(mode string, rate float64) (HotRun, bool) {
	i := slices.IndexFunc(h.Runs, func(r HotRun) bool { return r.Mode == mode && r.Rate == rate })
	if i < 0 {
		return HotRun{}, false
	}
	return h.Runs[i], true
}

func writeHot(b *strings.Builder, r *Results) {
	h := r.Hot
	fmt.Fprintf(b, "## Hot-loop disturbance\n\n")
	if h.Skipped != "" {
		fmt.Fprintf(b, "Skipped: %s.\n\n", h.Skipped)
		return
	}
	fmt.Fprintf(b, "A worker pinned to CPU %d runs a fixed loop (about 100 ns of arithmetic, the mode's poll point, "+
		"a clock read; a housekeeping kernel entry every %v) while a sender pinned to CPU %d delivers one item at a time, "+
		"at a fixed rate or back-to-back. `Defer`: the worker is in user mode between entries, so an item is one CAS on its word "+
		"and runs at the next entry; `AlwaysIPI`: the same worker claimed with `ctdefer.AlwaysIPI()`, every item an IPI handled "+
		"at the next `Poll`, inside the loop; `Queue`: a `ctdefer.Queue` of values, each enqueued in the worker's ring and delivered "+
		"like `Defer` (one CAS) to run at the next entry; `channel`: a buffered channel polled with `select`/`default`; `mutex mailbox`: a "+
		"slice drained under a mutex (the queue, the channel and the mailbox carry the same values); `atomic.Pointer`: a copy-on-write config the worker loads. Throughput is relative to the "+
		"same mode with no sender (a mode's own poll cost shows in the absolute column, not as disturbance).\n\n",
		r.TargetCPU, h.EntryEvery, r.SenderCPU)

	if w := lowShareWarning(h); w != "" {
		b.WriteString(w)
	}

	rates := append([]float64{-1}, h.Rates...)
	header := func(first string) {
		fmt.Fprintf(b, "| %s |", first)
		for _, rate := range rates {
			fmt.Fprintf(b, " %s |", RateLabel(rate))
		}
		fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("---:|", len(rates)))
	}
	rounds := 1
	if len(h.Runs) > 0 {
		rounds = max(h.Runs[0].Rounds, 1)
	}
	fmt.Fprintf(b, "### Throughput\n\nIterations per second of the worker's time on its CPU with no sender; then relative to it. "+
		"Per second of CPU time (the worker thread's schedstat, where the OS has it), so that time other processes take from "+
		"the CPU is not counted as the sender's disturbance (the worker's share of the wall clock is in the last table); "+
		"the best of %d interleaved rounds, since noise only ever slows a round down. Latencies merge every round.\n\n", rounds)
	header("mode")
	for _, mode := range h.Modes {
		fmt.Fprintf(b, "| %s |", mode)
		for _, rate := range rates {
			run, ok := h.find(mode, rate)
			switch {
			case !ok || run.Err != "":
				fmt.Fprintf(b, " error |")
			case rate < 0:
				fmt.Fprintf(b, " %s |", fmtRate(run.perCPUSec()))
			default:
				fmt.Fprintf(b, " %s |", pct(run.Relative))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\n### Iteration time, p99.9 / p99.99\n\n")
	header("mode")
	for _, mode := range h.Modes {
		fmt.Fprintf(b, "| %s |", mode)
		for _, rate := range rates {
			if run, ok := h.find(mode, rate); ok && run.Err == "" {
				fmt.Fprintf(b, " %s / %s |", fmtDur(run.P999), fmtDur(run.P9999))
			} else {
				fmt.Fprintf(b, " error |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\n### Every run\n\n")
	fmt.Fprintf(b, "*in loop*: items handled inside the hot loop, each an interruption (for the ctdefer modes, IPIs handled at a `Poll` in user mode); "+
		"*at entry*: items run at a housekeeping kernel entry (deferred). The sender's cost is per item: back-to-back the loop's time over the items, "+
		"at a rate the time inside the call.\n\n")
	fmt.Fprintf(b, "*CPU share*: the worker's time on its CPU over the wall clock (below 100%%, other tasks ran there).\n\n")
	fmt.Fprintf(b, "| mode | sender | sends/s | sender per item | iterations/s | CPU share | relative | p50 | p99.9 | p99.99 | max | in loop | at entry |\n")
	fmt.Fprintf(b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range h.Runs {
		if run.Err != "" {
			fmt.Fprintf(b, "| %s | %s | error: %s |||||||||\n", run.Mode, RateLabel(run.Rate), run.Err)
			continue
		}
		rel := pct(run.Relative)
		if run.Rate < 0 {
			rel = "(baseline)"
		}
		share := "-"
		if run.CPUShare > 0 {
			share = pct(run.CPUShare)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", run.Mode, RateLabel(run.Rate), fmtRate(run.SendsPerSec),
			run.sender(), fmtRate(run.ItersPerSec), share, rel, fmtDur(run.P50), fmtDur(run.P999), fmtDur(run.P9999), fmtDur(run.Max), run.InLoop, run.AtEntry)
	}

	writeGaps(b, h)

	fmt.Fprintf(b, "\n### Ratios\n\n")
	if d, ok := h.find("Defer", 0); ok && d.Err == "" {
		var parts []string
		for _, mode := range h.Modes[1:] {
			if o, ok := h.find(mode, 0); ok && o.Err == "" {
				parts = append(parts, fmt.Sprintf("`%s` %s (%s)", mode, fmtNs(o.SenderNs), ratio(o.SenderNs, d.SenderNs)))
			}
		}
		fmt.Fprintf(b, "- Sender's cost per item, back-to-back (median of batches): `Defer` %s; %s.\n", fmtNs(d.SenderNs), strings.Join(parts, ", "))
	}
	for _, rate := range []float64{1e5, 1e6, 0} {
		d, ok1 := h.find("Defer", rate)
		a, ok2 := h.find("AlwaysIPI", rate)
		if !ok1 || !ok2 || d.Err != "" || a.Err != "" {
			continue
		}
		fmt.Fprintf(b, "- At %s (achieved: %s/s and %s/s): the hot loop keeps %s of its throughput with `Defer`, %s with `AlwaysIPI`; p99.99 %s vs %s; "+
			"%d of %d items interrupted the loop with `Defer` (the rest ran at kernel entries), %d of %d with `AlwaysIPI`.\n",
			RateLabel(rate), fmtRate(d.SendsPerSec), fmtRate(a.SendsPerSec), pct(d.Relative), pct(a.Relative), fmtDur(d.P9999), fmtDur(a.P9999), d.InLoop, d.Sent, a.InLoop, a.Sent)
	}
	fmt.Fprintf(b, "\n![iteration-time CDFs per delivery mode](%s)\n\n![throughput against send rate](%s)\n\n![where the gaps came from, per mode](%s)\n\n",
		r.file(PlotCDF), r.file(PlotThroughput), r.file(PlotGaps))
}

// perCPUSec is the run's iterations per second of CPU time, or per
// second where that is unknown.
func (r HotRun) perCPUSec() float64 {
	if r.ItersPerCPUSec > 0 {
		return r.ItersPerCPUSec
	}
	return r.ItersPerSec
}

// sender writes the sender's cost per item.
func (r HotRun) sender() string {
	if r.SenderBelow > 0 {
		return fmt.Sprintf("< %.0f ns", r.SenderBelow)
	}
	return fmtNs(r.SenderNs)
}

// file returns the name of a written plot, or the stem if it was not
// written.
func (r *Results) file(stem string) string {
	for _, f := range r.Files {
		if strings.HasPrefix(f, stem+".") {
			return f
		}
	}
	return stem
}

func writeGrace(b *strings.Builder, r *Results) {
	g := r.Grace
	fmt.Fprintf(b, "## Grace periods\n\n")
	fmt.Fprintf(b, "An updater (CPU %d) publishes a new table and waits until no reader can still hold the old one, back-to-back; "+
		"one reader (CPU %d) looks keys up in batches of 16, each batch a read-side critical section. The update's cost is "+
		"the publish and the wait.", r.SenderCPU, r.TargetCPU)
	if g.BusySkipped != "" {
		fmt.Fprintf(b, " The busy-reader phases did not run: %s.", g.BusySkipped)
	}
	fmt.Fprintf(b, " Updates: the median (and p99) of each timed alone. Reader: lookups per second of its time on the CPU, "+
		"alone and with the updater running.\n\n| scheme | update, reader idle | update, reader busy | reader lookups/s alone | with the updater | how |\n|---|---:|---:|---:|---:|---|\n")
	for _, run := range g.Runs {
		if run.Err != "" {
			fmt.Fprintf(b, "| `%s` | %s |||| %s |\n", run.Scheme, run.Err, run.Note)
			continue
		}
		idle, busy, alone, with := "-", "-", "-", "-"
		if run.Idle.Ran {
			idle = fmt.Sprintf("%s (%s)", fmtDur(run.Idle.P50), fmtDur(run.Idle.P99))
		}
		if run.Busy.Ran {
			busy = fmt.Sprintf("%s (%s)", fmtDur(run.Busy.P50), fmtDur(run.Busy.P99))
			with = fmt.Sprintf("%s (%s)", fmtRate(run.Busy.ReaderLookups), pct(run.Busy.ReaderLookups/run.ReaderAlone))
		}
		if run.ReaderAlone > 0 {
			alone = fmtRate(run.ReaderAlone)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", run.Scheme, idle, busy, alone, with, run.Note)
	}
	if len(g.Runs) > 0 && g.Runs[0].Err == "" {
		s := g.Runs[0]
		var idle, busy []string
		for _, o := range g.Runs[1:] {
			if o.Err != "" {
				continue
			}
			if s.Idle.Ran && o.Idle.Ran {
				idle = append(idle, fmt.Sprintf("`%s` %s", o.Scheme, ratio(float64(o.Idle.P50), float64(s.Idle.P50))))
			}
			if s.Busy.Ran && o.Busy.Ran {
				busy = append(busy, fmt.Sprintf("`%s` %s", o.Scheme, ratio(float64(o.Busy.P50), float64(s.Busy.P50))))
			}
		}
		fmt.Fprintf(b, "\nMedian update relative to `%s` (how many times longer): reader idle: %s", s.Scheme, strings.Join(idle, ", "))
		if len(busy) > 0 {
			fmt.Fprintf(b, "; reader busy: %s", strings.Join(busy, ", "))
		}
		fmt.Fprintf(b, ".\n")
	}
	b.WriteString("\n")
}

func writeScale(b *strings.Builder, r *Results) {
	sc := r.Scale
	fmt.Fprintf(b, "## Scale\n\n")
	fmt.Fprintf(b, "Simulated CPUs: a Domain of n unpinned CPUs, each with an owner goroutine on its own thread, every one in user mode "+
		"with one address space loaded. Each cell: the operation's cost, and per CPU. `Shootdown, kernel range`: the flush is "+
		"deferred to each CPU's next kernel entry (one CAS per CPU, no wait); `Shootdown, lazy CPUs`: each CPU holds the address "+
		"space lazily and is marked with one CAS, no IPI.\n\n")
	var counts []int
	for _, run := range sc.Runs {
		if !slices.Contains(counts, run.CPUs) {
			counts = append(counts, run.CPUs)
		}
	}
	fmt.Fprintf(b, "| CPUs |")
	for _, s := range sc.Series {
		fmt.Fprintf(b, " %s |", s)
	}
	fmt.Fprintf(b, "\n|---:|%s\n", strings.Repeat("---:|", len(sc.Series)))
	for _, n := range counts {
		fmt.Fprintf(b, "| %d |", n)
		for _, s := range sc.Series {
			i := slices.IndexFunc(sc.Runs, func(r ScaleRun) bool { return r.Series == s && r.CPUs == n })
			switch {
			case i < 0:
				fmt.Fprintf(b, " - |")
			case sc.Runs[i].Err != "":
				fmt.Fprintf(b, " error: %s |", sc.Runs[i].Err)
			default:
				fmt.Fprintf(b, " %s (%s/CPU) |", fmtNs(sc.Runs[i].NsPerOp), fmtNs(sc.Runs[i].NsPerCPU()))
			}
		}
		b.WriteString("\n")
	}
	if len(counts) >= 2 {
		lo, hi := counts[0], counts[len(counts)-1]
		var parts []string
		for _, s := range sc.Series {
			a := slices.IndexFunc(sc.Runs, func(r ScaleRun) bool { return r.Series == s && r.CPUs == lo && r.Err == "" })
			z := slices.IndexFunc(sc.Runs, func(r ScaleRun) bool { return r.Series == s && r.CPUs == hi && r.Err == "" })
			if a >= 0 && z >= 0 {
				slope := (sc.Runs[z].NsPerOp - sc.Runs[a].NsPerOp) / float64(hi-lo)
				parts = append(parts, fmt.Sprintf("%s %s", s, fmtNs(slope)))
			}
		}
		fmt.Fprintf(b, "\nMarginal cost per CPU (from %d to %d CPUs): %s.\n", lo, hi, strings.Join(parts, ", "))
	}
	fmt.Fprintf(b, "\n![cost per CPU against the number of CPUs](%s)\n", r.file(PlotScale))
}

// writeGaps writes where each run's gaps came from.
func writeGaps(b *strings.Builder, h HotResults) {
	fmt.Fprintf(b, "\n### Where the gaps came from\n\n")
	fmt.Fprintf(b, "Every iteration longer than %v is a gap, charged to the first source the loop can see when it ends: "+
		"*GC* (the runtime's GC cycle or stop-the-world pause count moved), *Go preemption* (the loop thread's voluntary "+
		"context switches moved, or the process received a SIGURG since the last housekeeping entry), *IPI/item* (the "+
		"iteration handled an item: a ctdefer IPI at `Poll`, deferred work at the previous entry, a receive), *other* "+
		"(nothing the process sees: an interrupt, another task, the hypervisor; the thread's involuntary context switches "+
		"are in the last column). SIGURG is counted for the whole process, so a signal to the sender's thread can be "+
		"charged to the loop. Each cell: gaps per second of loop time, and their time added up.\n\n", h.GapThreshold)
	fmt.Fprintf(b, "| mode | sender | gaps/s | IPI/item | Go preemption | GC | other | involuntary switches/s |\n")
	fmt.Fprintf(b, "|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range h.Runs {
		if run.Err != "" || run.Elapsed <= 0 {
			continue
		}
		sec := run.Elapsed.Seconds()
		cell := func(c GapCount) string {
			if c.N == 0 {
				return "0"
			}
			return fmt.Sprintf("%s (%s)", perSec(float64(c.N)/sec), fmtDur(c.Time))
		}
		inv := "-"
		if run.Gaps.Known {
			inv = perSec(float64(run.Gaps.Involuntary) / sec)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", run.Mode, RateLabel(run.Rate), perSec(float64(run.Gaps.Total().N)/sec),
			cell(run.Gaps.Delivery), cell(run.Gaps.Preemption), cell(run.Gaps.GC), cell(run.Gaps.Other), inv)
	}
}

// LowCPUShare is the worker's share of its CPU below which the report
// warns: other tasks took so much of it that the relative figures compare
// runs disturbed by different amounts.
const LowCPUShare = 0.8

// lowShareWarning warns about the runs whose worker had less than
// LowCPUShare of its CPU; "" when none.
func lowShareWarning(h HotResults) string {
	var low []HotRun
	for _, r := range h.Runs {
		if r.Err == "" && r.CPUShare > 0 && r.CPUShare < LowCPUShare {
			low = append(low, r)
		}
	}
	if len(low) == 0 {
		return ""
	}
	worst := slices.MinFunc(low, func(a, b HotRun) int { return cmpFloat(a.CPUShare, b.CPUShare) })
	return fmt.Sprintf("> **Warning: the worker got less than %.0f%% of its CPU in %d of %d runs** (the least: %s at %s, %s). "+
		"Other tasks ran on that CPU, so the throughput and latency columns compare runs that were disturbed by different "+
		"amounts, and the relative figures mislead. Run again on a quiet machine, or isolate the CPU (`ctdefer doctor` says how).\n\n",
		100*LowCPUShare, len(low), len(h.Runs), worst.Mode, RateLabel(worst.Rate), pct(worst.CPUShare))
}

// perSec writes a count per second with three significant figures, and
// whole numbers from 100 up (1090, not 1.09e+03).
func perSec(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
