package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	"github.com/ctdefer/ctdefer/stats"
)

// The CDF of a stats.Histogram, for the plots (the histogram's buckets
// and quantiles are tested in the root package).
func TestCDF(t *testing.T) {
	var h stats.Histogram
	if cdf(&h) != nil {
		t.Errorf("empty histogram not empty")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i))
	}
	h.Record(-5) // counts as 0
	if h.Total() != 1001 || h.Quantile(1) != 1000 {
		t.Errorf("count %d, max %v", h.Total(), h.Quantile(1))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500}, {0.9, 900}, {0.999, 1000}, {1, 1000}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got-tc.want) > float64(tc.want)/32+1 {
			t.Errorf("Quantile(%v) = %v, want %v within 1/32", tc.q, got, tc.want)
		}
	}
	points := cdf(&h)
	if last := points[len(points)-1]; last.Fraction != 1 || last.V != 1000 {
		t.Errorf("CDF ends at %+v", last)
	}
	for i := 1; i < len(points); i++ {
		if points[i].V <= points[i-1].V || points[i].Fraction <= points[i-1].Fraction {
			t.Errorf("CDF not increasing at %d: %+v, %+v", i, points[i-1], points[i])
		}
	}
}

func TestChooseCPUs(t *testing.T) {
	for _, tc := range []struct {
		user, allowed, isolated []int
		sender, target          int
		two, err                bool
	}{
		{nil, []int{0, 1}, nil, 0, 1, true, false},
		{nil, []int{0, 1, 2, 3}, []int{2}, 0, 2, true, false},
		{nil, []int{0, 1, 2, 3}, []int{0, 1, 2, 3}, 0, 3, true, false},
		{nil, []int{5}, nil, 5, 5, false, false},
		{[]int{1, 0}, []int{0, 1}, nil, 1, 0, true, false},
		{[]int{1, 1}, []int{0, 1}, nil, 0, 0, false, true},
		{[]int{0, 7}, []int{0, 1}, nil, 0, 0, false, true},
		{[]int{0}, []int{0, 1}, nil, 0, 0, false, true},
		{nil, nil, nil, 0, 0, false, true},
	} {
		s, tg, two, err := chooseCPUs(tc.user, tc.allowed, tc.isolated)
		if (err != nil) != tc.err || err == nil && (s != tc.sender || tg != tc.target || two != tc.two) {
			t.Errorf("chooseCPUs(%v, %v, %v) = %d, %d, %v, %v", tc.user, tc.allowed, tc.isolated, s, tg, two, err)
		}
	}
}

func TestRateLabel(t *testing.T) {
	for r, want := range map[float64]string{-1: "no sender", 0: "back-to-back", 1e3: "1e3/s", 1e6: "1e6/s", 2500: "2500/s"} {
		if got := RateLabel(r); got != want {
			t.Errorf("RateLabel(%v) = %q, want %q", r, got, want)
		}
	}
}

// synthetic is a Results as a run on two CPUs would make it.
func synthetic() *Results {
	r := &Results{Config: "test", Started: time.Unix(1700000000, 0), Took: 31 * time.Second, SenderCPU: 0, TargetCPU: 1, Pinned: true,
		Isolation: "isolated", ClockNs: 25, Machine: host.Machine{CPUModel: "Test CPU", Online: []int{0, 1}, Allowed: []int{0, 1}, GoVersion: "go1.x", GOMAXPROCS: 4}}
	r.Hot = HotResults{EntryEvery: 100 * time.Microsecond, GapThreshold: 10 * time.Microsecond, Rates: []float64{1e4, 0}}
	for _, m := range hotModes {
		r.Hot.Modes = append(r.Hot.Modes, m.name)
	}
	for _, rate := range []float64{-1, 1e4, 0} {
		for i, mode := range r.Hot.Modes {
			var h stats.Histogram
			for k := range 10000 {
				h.Record(time.Duration(100 + k%50 + i*10))
			}
			h.Record(50 * time.Microsecond)
			run := HotRun{Mode: mode, Rate: rate, Iters: 10000, Elapsed: time.Millisecond, ItersPerSec: 1e7, ItersPerCPUSec: 1e7, CPUShare: 0.9, Relative: 0.9,
				P50: h.Quantile(0.5), P999: h.Quantile(0.999), P9999: h.Quantile(0.9999), Max: h.Quantile(1), cdf: cdf(&h)}
			if rate >= 0 {
				run.Sent, run.SendsPerSec, run.SenderNs = 100, 1e4*float64(i+1), 10*float64(i+1)
			}
			run.Gaps = GapSources{Threshold: 10 * time.Microsecond, Known: true, GC: GapCount{1, 50 * time.Microsecond},
				Preemption: GapCount{uint64(2 + i), 40 * time.Microsecond}, Delivery: GapCount{uint64(i), 20 * time.Microsecond}, Other: GapCount{5, 100 * time.Microsecond}}
			r.Hot.Runs = append(r.Hot.Runs, run)
		}
	}
	for i, s := range graceSchemes {
		r.Grace.Runs = append(r.Grace.Runs, GraceRun{Scheme: s.name, Note: s.note, ReaderAlone: 1e9,
			Idle: GracePhase{Ran: true, Ops: 10, NsPerOp: 30 * float64(i+1), P50: time.Duration(30 * (i + 1)), P99: 100},
			Busy: GracePhase{Ran: true, Ops: 10, NsPerOp: 300 * float64(i+1), P50: time.Duration(300 * (i + 1)), P99: 1000, ReaderLookups: 5e8}})
	}
	r.Grace.Runs[len(r.Grace.Runs)-1].Err = "not available here: test"
	r.Scale.Series = scaleSeries
	for _, n := range []int{1, 8, 64} {
		for i, s := range scaleSeries {
			r.Scale.Runs = append(r.Scale.Runs, ScaleRun{Series: s, CPUs: n, NsPerOp: float64(20 + n*(i+2)), Ops: 100})
		}
	}
	return r
}

// svgTexts returns the text elements of an SVG file, failing if it is not
// well-formed XML.
func svgTexts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(b))
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	return texts
}

// Each figure has a title and draws one series per mode, scale series or
// gap source, named once in its legend; in SVG and in PNG.
func TestPlotsHaveTheirSeries(t *testing.T) {
	r := synthetic()
	dir := t.TempDir()
	cdf, err := plotCDF(r.Hot)
	if err != nil {
		t.Fatal(err)
	}
	if len(cdf.Grid) != 2 || len(cdf.Grid[0]) != 2 || cdf.Grid[1][1] != nil {
		t.Fatalf("CDF grid %dx%d, want 2x2 with one blank (no sender, 1e4/s, back-to-back)", len(cdf.Grid), len(cdf.Grid[0]))
	}
	tp, err := plotThroughput(r.Hot)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := plotScale(r.Scale)
	if err != nil {
		t.Fatal(err)
	}
	gaps, err := plotGaps(r.Hot)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		fig    *Figure
		series []string
	}{
		{"cdf", cdf, r.Hot.Modes},
		{"throughput", tp, r.Hot.Modes},
		{"scale", sc, scaleSeries},
		{"gaps", gaps, gapSourceNames},
	} {
		path := filepath.Join(dir, tc.name+".svg")
		if err := savePlots(tc.fig, path, "svg"); err != nil {
			t.Fatal(err)
		}
		texts := svgTexts(t, path)
		if tc.fig.Title == "" || count(texts, tc.fig.Title) != 1 {
			t.Errorf("%s: title %q not drawn once", tc.name, tc.fig.Title)
		}
		for _, s := range tc.series {
			if n := count(texts, s); n != 1 {
				t.Errorf("%s: series %q named %d times, want once (texts: %q)", tc.name, s, n, texts)
			}
		}
		for _, row := range tc.fig.Grid {
			for _, p := range row {
				if p != nil && (p.X.Label.Text == "" || p.Y.Label.Text == "") {
					t.Errorf("%s: an axis without a label", tc.name)
				}
			}
		}
		pngPath := filepath.Join(dir, tc.name+".png")
		if err := savePlots(tc.fig, pngPath, "png"); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(pngPath)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s: PNG %v, %v", tc.name, img, err)
		}
	}
	if err := savePlots(sc, filepath.Join(dir, "x.gif"), "gif"); err == nil {
		t.Errorf("a gif was accepted")
	}
}

// decadeRange gives a log axis labelled ticks around every value (the
// scale plot's 2-3 ns values had none below them).
func TestDecadeRange(t *testing.T) {
	for _, tc := range [][4]float64{{2.3, 870, 1, 1000}, {10, 100, 10, 100}, {0.04, 3, 0.01, 10}} {
		lo, hi := decadeRange(tc[0], tc[1])
		if math.Abs(lo-tc[2]) > 1e-12 || math.Abs(hi-tc[3]) > 1e-9 {
			t.Errorf("decadeRange(%v, %v) = %v, %v; want %v, %v", tc[0], tc[1], lo, hi, tc[2], tc[3])
		}
		labelled := 0
		for _, tk := range (decadeTicks{}).Ticks(lo, hi) {
			if tk.Label != "" && (tk.Value <= tc[0] || tk.Value >= tc[1]) {
				labelled++
			}
		}
		if labelled < 2 {
			t.Errorf("%v..%v: no labelled tick on each side of the data", tc[0], tc[1])
		}
	}
}

func count(texts []string, s string) int {
	n := 0
	for _, t := range texts {
		if t == s {
			n++
		}
	}
	return n
}

func TestPlotsWithoutData(t *testing.T) {
	if _, err := plotCDF(HotResults{}); err == nil {
		t.Errorf("an empty CDF plot was drawn")
	}
	if _, err := plotThroughput(HotResults{Modes: []string{"Defer"}}); err == nil {
		t.Errorf("an empty throughput plot was drawn")
	}
	if _, err := plotScale(ScaleResults{Series: scaleSeries}); err == nil {
		t.Errorf("an empty scale plot was drawn")
	}
}

func TestReport(t *testing.T) {
	r := synthetic()
	r.Files = []string{"latency-cdf.svg", "throughput.svg", "scale.svg", ReportFile, ResultsFile}
	var buf bytes.Buffer
	if err := WriteReport(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"# ctdefer bench", "## Machine", "Test CPU", "## Hot-loop disturbance", "### Throughput", "p99.9 / p99.99",
		"back-to-back", "### Ratios", "(2x)", "![iteration-time CDFs per delivery mode](latency-cdf.svg)", "## Grace periods",
		"`grace.Synchronize`", "not available here: test", "## Scale", "| 64 |", "Marginal cost per CPU", "(scale.svg)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"%!", "NaN", "+Inf"} {
		if strings.Contains(out, bad) {
			t.Errorf("report contains %q:\n%s", bad, out)
		}
	}

	r.Hot = HotResults{Skipped: "it needs two CPUs"}
	buf.Reset()
	if err := WriteReport(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Skipped: it needs two CPUs.") {
		t.Errorf("a skipped hot loop is not said")
	}
}

func TestFormatting(t *testing.T) {
	for ns, want := range map[float64]string{0: "-", 5: "5.00 ns", 9.999: "10 ns", 123: "123 ns", 999.7: "1 µs", 4560: "4.56 µs", 7.89e6: "7.89 ms", 2e9: "2 s", 1e12: "1000 s"} {
		if got := fmtNs(ns); got != want {
			t.Errorf("fmtNs(%v) = %q, want %q", ns, got, want)
		}
	}
	for v, want := range map[float64]string{0: "-", 78: "78", 999.6: "1 k", 45600: "45.6 k", 1.23e6: "1.23 M", 3.25e9: "3.25 G"} {
		if got := fmtRate(v); got != want {
			t.Errorf("fmtRate(%v) = %q, want %q", v, got, want)
		}
	}
	if ratio(30, 10) != "3x" || ratio(300, 10) != "30x" || ratio(0, 1) != "-" {
		t.Errorf("ratio: %s %s %s", ratio(30, 10), ratio(300, 10), ratio(0, 1))
	}
	if got := (decadeTicks{}).Ticks(1, 1e6); len(got) != 3*6+1 || got[0].Label != "1" || got[len(got)-1].Label != "1M" || got[1].Label != "" {
		t.Errorf("decade ticks over 6 decades: %+v", got)
	}
	if got := (decadeTicks{}).Ticks(8, 60); len(got) != 3 || got[1].Label != "20" {
		t.Errorf("decade ticks 8..60: %+v", got)
	}
	if got := (ninesTicks{}).Ticks(0, ninesMax); len(got) != 7 {
		t.Errorf("nines ticks: %+v", got)
	}
	if got := (pow2Ticks{}).Ticks(1, 1024); len(got) != 11 || got[10].Label != "1024" {
		t.Errorf("pow2 ticks: %+v", got)
	}
	if !slices.IsSorted([]float64{nines(0), nines(0.9), nines(0.99), nines(1)}) {
		t.Errorf("nines not monotonic")
	}
}

func TestCombineRounds(t *testing.T) {
	var h1, h2 stats.Histogram
	h1.Record(100)
	h2.Record(300)
	h2.Record(time.Millisecond)
	rounds := []HotRun{
		{Mode: "Defer", Rate: 1e4, Iters: 100, Elapsed: time.Second, OnCPU: time.Second / 2, ItersPerCPUSec: 200, Sent: 10, SendsPerSec: 10, SenderNs: 50, InLoop: 1, AtEntry: 9, hist: &h1},
		{Mode: "Defer", Rate: 1e4, Iters: 300, Elapsed: time.Second, OnCPU: time.Second, ItersPerCPUSec: 300, Sent: 20, SendsPerSec: 20, SenderNs: 40, InLoop: 2, AtEntry: 18, hist: &h2},
	}
	c := combineRounds(rounds)
	if c.Iters != 400 || c.Elapsed != 2*time.Second || c.ItersPerSec != 200 || c.ItersPerCPUSec != 300 || c.CPUShare != 0.75 {
		t.Errorf("throughput: %+v", c)
	}
	if c.Sent != 30 || c.SendsPerSec != 15 || c.SenderNs != 40 || c.InLoop != 3 || c.AtEntry != 27 || c.Rounds != 2 {
		t.Errorf("sender: %+v", c)
	}
	if c.hist.Total() != 3 || c.Max != time.Millisecond || len(c.cdf) != 3 {
		t.Errorf("latency: %d values, max %v, %d CDF points", c.hist.Total(), c.Max, len(c.cdf))
	}
	if rounds[0].hist.Total() != 1 {
		t.Errorf("a round's histogram was changed")
	}
	below := combineRounds([]HotRun{{Sent: 5, SenderBelow: 25}, {Sent: 5, SenderBelow: 25}})
	if below.SenderBelow != 25 || below.SenderNs != 0 {
		t.Errorf("too cheap to time in every round: %+v", below)
	}
	mixed := combineRounds([]HotRun{{Sent: 5, SenderBelow: 25}, {Sent: 5, SenderNs: 60}})
	if mixed.SenderBelow != 25 || mixed.SenderNs != 0 {
		t.Errorf("too cheap to time in the best round: %+v", mixed)
	}
}

// The report warns when the worker got little of its CPU, naming the
// worst run, and says nothing when it got enough.
func TestReportWarnsOnLowCPUShare(t *testing.T) {
	r := synthetic()
	var b strings.Builder
	if err := WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Warning") {
		t.Errorf("a warning at 90%% CPU share")
	}
	r.Hot.Runs[3].CPUShare = 0.226
	b.Reset()
	if err := WriteReport(&b, r); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("less than 80%% of its CPU in 1 of %d runs** (the least: %s at %s, 22.6%%)", len(r.Hot.Runs), r.Hot.Runs[3].Mode, RateLabel(r.Hot.Runs[3].Rate))
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}

// Counts per second keep three figures and never turn exponential.
func TestPerSec(t *testing.T) {
	for v, want := range map[float64]string{0.416: "0.416", 6.234: "6.23", 47.06: "47.1", 1090.4: "1090", 8273.6: "8274", 0: "0"} {
		if got := perSec(v); got != want {
			t.Errorf("perSec(%v) = %q, want %q", v, got, want)
		}
	}
}
