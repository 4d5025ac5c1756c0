package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/bench"
	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/doctor"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// The doctor on this host: the JSON parses and every check is there, each
// with a verdict; whatever the host, nothing fails to run.
func TestDoctorJSONSmoke(t *testing.T) {
	out, errOut, code := runCmd(t, "doctor", "-json", "-noise", "20ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	want := []string{"isolated-cpus", "nohz-full", "rcu-nocbs", "irqaffinity", "allowed-cpus", "cgroup-cpuset", "cgroup-cpu-quota",
		"gomaxprocs", "irq-affinity", "cpu-governor", "smt-siblings", "membarrier-supported", "membarrier-registered"}
	for _, c := range r.Candidates {
		want = append(want, fmt.Sprintf("noise-cpu%d", c))
	}
	if len(r.Candidates) == 0 {
		want = append(want, "noise")
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

func TestDoctorTable(t *testing.T) {
	out, errOut, code := runCmd(t, "doctor", "-noise", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"CHECK", "HOW TO FIX", "[kernel support]", "skipped (-noise 0)", " ok, "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
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
	plots := map[string][]string{bench.PlotScale + ".svg": res.Scale.Series}
	if res.Hot.Skipped == "" {
		plots[bench.PlotCDF+".svg"] = res.Hot.Modes
		plots[bench.PlotThroughput+".svg"] = nil // a mode may lack points on a starved CPU
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
