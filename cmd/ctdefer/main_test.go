package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/bench"
	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/doctor"
)

// TestMain lets this test binary stand in for the command when doctor
// re-runs itself for a Go runtime scenario (os.Executable is the test
// binary then).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == doctor.ChildCommand {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// The doctor on this host: the JSON parses and every check is there, each
// with a verdict; whatever the host, nothing fails to run, and the exit
// status is 1 exactly when a check failed (-strict: or warned).
func TestDoctorJSONSmoke(t *testing.T) {
	out, errOut, code := runCmd(t, "doctor", "-json", "-noise", "20ms", "-runtime", "30ms")
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON: %v\n%s%s", err, out, errOut)
	}
	if want := map[bool]int{false: 0, true: 1}[r.Summary["fail"] > 0]; code != want {
		t.Errorf("exit %d with %v, want %d: %s", code, r.Summary, want, errOut)
	}
	want := []string{"isolated-cpus", "nohz-full", "rcu-nocbs", "irqaffinity", "allowed-cpus", "cgroup-cpuset", "cgroup-cpu-quota",
		"gomaxprocs", "irq-affinity", "cpu-governor", "smt-siblings", "membarrier-supported", "membarrier-registered"}
	for _, c := range r.Candidates {
		want = append(want, fmt.Sprintf("noise-cpu%d", c))
	}
	if len(r.Candidates) == 0 {
		want = append(want, "noise", "go-runtime")
	} else if runtime.GOOS == "linux" {
		want = append(want, "go-preemption", "go-gc", "go-headroom", "go-all-fixes")
	}
	got := map[string]bool{}
	for _, c := range r.Checks {
		got[c.ID] = true
		if c.Found == "" {
			t.Errorf("%s: nothing found", c.ID)
		}
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("check %s missing from %s", id, out)
		}
	}
	if r.Machine == nil || r.Machine.GoVersion == "" {
		t.Errorf("no machine in the report")
	}
}

// The table fits 100 columns; -strict fails on warnings.
func TestDoctorTable(t *testing.T) {
	out, errOut, code := runCmd(t, "doctor", "-noise", "0", "-runtime", "0")
	for _, want := range []string{"CHECK", "HOW TO FIX", "[kernel support]", "skipped (-noise 0)", "skipped (-runtime 0)", " ok, "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > doctor.TableWidth {
			t.Errorf("a line of %d columns, over %d: %q", n, doctor.TableWidth, line)
		}
	}
	warned, failed := strings.Contains(out, " warn "), strings.Contains(out, " fail ")
	if want := map[bool]int{false: 0, true: 1}[failed]; code != want {
		t.Errorf("exit %d, want %d: %s", code, want, errOut)
	}
	_, _, code = runCmd(t, "doctor", "-noise", "0", "-runtime", "0", "-strict")
	if want := map[bool]int{false: 0, true: 1}[failed || warned]; code != want {
		t.Errorf("-strict: exit %d, want %d", code, want)
	}
}

// One Go runtime scenario in a child process (this test binary, through
// TestMain): it pins, counts and reports; no figure is asserted but the
// ones a scenario sets (the machine may be loaded).
func TestRuntimeScenarioLive(t *testing.T) {
	env := doctor.LiveEnv()
	allowed, err := env.Allowed()
	if err != nil || len(allowed) == 0 {
		t.Skipf("allowed set: %v, %v", allowed, err)
	}
	cpu := allowed[len(allowed)-1]
	res, err := env.Runtime(doctor.RuntimeRequest{Scenario: doctor.ScenarioNoHead, CPU: cpu, Duration: 50 * time.Millisecond, Threshold: doctor.DefaultThreshold})
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Errorf("pinning off Linux succeeded")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Scenario != doctor.ScenarioNoHead.ID || res.CPU != cpu || res.GOMAXPROCS != 1 || res.Elapsed < 50*time.Millisecond || res.Voluntary < 0 {
		t.Errorf("result: %+v", res)
	}
}

func TestUsageAndBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: ctdefer"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "usage: ctdefer"},
		{[]string{"doctor", "-cpus", "3-1"}, 1, "-cpus"},
		{[]string{"doctor", "-noise", "-1s"}, 1, "must not be negative"},
		{[]string{"doctor", "-runtime", "-1s"}, 1, "must not be negative"},
		{[]string{"doctor", "extra"}, 1, "unexpected arguments"},
		{[]string{"doctor", "-h"}, 0, "usage: ctdefer doctor"},
		{[]string{"bench", "-h"}, 0, "usage: ctdefer bench"},
		{[]string{"bench", "-cpus", "x"}, 1, "-cpus"},
		{[]string{"bench", "-cpus", "0-1,2"}, 1, "not a CPU number"},
		{[]string{"bench", "-cpus", "0,1,2"}, 1, "want two CPUs"},
		{[]string{"bench", "-smoke", "-format", "gif", "-out", "unused"}, 1, "svg or png"},
	} {
		out, errOut, code := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%q: exit %d, want %d; output lacks %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// bench in its smoke configuration: the report, the results and the plots
// are written and valid, and each plot names its series. On a host with a
// single CPU the hot-loop workload is skipped, and the report says so.
func TestBenchSmoke(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCmd(t, "bench", "-smoke", "-progress=false", "-out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var res bench.Results
	b, err := os.ReadFile(filepath.Join(dir, bench.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	report, err := os.ReadFile(filepath.Join(dir, bench.ReportFile))
	if err != nil || len(report) == 0 {
		t.Fatalf("report: %v, %d bytes", err, len(report))
	}
	for _, want := range []string{"## Machine", "## Hot-loop disturbance", "## Grace periods", "## Scale"} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	// A series is drawn where it has a figure: a one-CPU shootdown can be
	// cheaper than the clock read that times it, and read as 0.
	var drawn []string
	for _, r := range res.Scale.Runs {
		if r.Err == "" && r.NsPerOp > 0 && !contains(drawn, r.Series) {
			drawn = append(drawn, r.Series)
		}
	}
	plots := map[string][]string{bench.PlotScale + ".svg": drawn}
	if res.Hot.Skipped == "" {
		plots[bench.PlotCDF+".svg"] = res.Hot.Modes
		plots[bench.PlotThroughput+".svg"] = nil // a mode may lack points on a starved CPU
		plots[bench.PlotGaps+".svg"] = []string{"Go preemption", "GC", "other (OS, hypervisor)"}
		if len(res.Hot.Runs) != len(res.Hot.Modes)*(len(res.Hot.Rates)+1) {
			t.Errorf("%d hot-loop runs for %d modes and %d rates", len(res.Hot.Runs), len(res.Hot.Modes), len(res.Hot.Rates))
		}
	} else if !bytes.Contains(report, []byte("Skipped: ")) {
		t.Errorf("the hot loop was skipped (%s) and the report does not say so", res.Hot.Skipped)
	}
	for name, series := range plots {
		texts := svgTexts(t, filepath.Join(dir, name))
		for _, s := range series {
			if !contains(texts, s) {
				t.Errorf("%s: no series %q in %q", name, s, texts)
			}
		}
	}
	if len(res.Grace.Runs) == 0 || len(res.Scale.Runs) == 0 {
		t.Errorf("grace or scale results missing: %+v %+v", res.Grace, res.Scale)
	}
	if !strings.Contains(out, filepath.Join(dir, bench.ReportFile)) {
		t.Errorf("the files written are not listed: %s", out)
	}
}

func TestParseCPUPair(t *testing.T) {
	if got, err := parseCPUPair("3,1"); err != nil || fmt.Sprint(got) != "[3 1]" {
		t.Errorf("parseCPUPair(3,1) = %v, %v: the order is sender, target", got, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// svgTexts returns the text elements of an SVG file, failing the test if
// the file is missing, empty or not well-formed XML.
func svgTexts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		t.Fatalf("%s: %v, %d bytes", path, err, len(b))
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	inText, sawSVG := false, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed: %v", path, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			inText = e.Name.Local == "text"
			sawSVG = sawSVG || e.Name.Local == "svg"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if !sawSVG {
		t.Fatalf("%s: no <svg> element", path)
	}
	return texts
}

// A relative -out is the user's: the working directory, or $PWD under
// go run (-C changes the working directory, not $PWD); absolute paths
// stay.
func TestResolveUserPath(t *testing.T) {
	dirs := func(p string) bool { return p == "/home/u/src" || p == "/home/u/src/ctdefer/cmd/ctdefer" }
	for _, tc := range []struct {
		p, wd, pwd string
		goRun      bool
		want       string
	}{
		{"out", "/home/u/src", "/home/u/src", false, "/home/u/src/out"},
		{"out", "/home/u/src/ctdefer/cmd/ctdefer", "/home/u/src", true, "/home/u/src/out"},                      // go run -C ctdefer/cmd/ctdefer
		{"out", "/home/u/src/ctdefer/cmd/ctdefer", "/home/u/src", false, "/home/u/src/ctdefer/cmd/ctdefer/out"}, // an installed binary trusts its directory
		{"out", "/home/u/src/ctdefer/cmd/ctdefer", "", true, "/home/u/src/ctdefer/cmd/ctdefer/out"},             // no $PWD
		{"out", "/home/u/src/ctdefer/cmd/ctdefer", "relative", true, "/home/u/src/ctdefer/cmd/ctdefer/out"},
		{"out", "/home/u/src/ctdefer/cmd/ctdefer", "/gone", true, "/home/u/src/ctdefer/cmd/ctdefer/out"}, // not a directory
		{"../x", "/home/u/src/ctdefer/cmd/ctdefer", "/home/u/src", true, "/home/u/x"},
		{"/abs/out", "/home/u/src", "/elsewhere", true, "/abs/out"},
	} {
		if got := resolveUserPath(tc.p, tc.wd, tc.pwd, tc.goRun, dirs); got != filepath.FromSlash(tc.want) {
			t.Errorf("resolveUserPath(%q, wd %q, PWD %q, go run %v) = %q, want %q", tc.p, tc.wd, tc.pwd, tc.goRun, got, tc.want)
		}
	}
	if !isGoRunBinary("/tmp/go-build1234/b001/exe/ctdefer") || isGoRunBinary("/home/u/go/bin/ctdefer") {
		t.Errorf("isGoRunBinary")
	}
}
