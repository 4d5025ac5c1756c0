package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ctdefer/ctdefer"
)

// fakeEnv is a host from testdata with fixed live probes.
func fakeEnv(host string, allowed []int, gomaxprocs int) Env {
	return Env{
		FS:         os.DirFS("../host/testdata/hosts/" + host),
		GOOS:       "linux",
		GOMAXPROCS: gomaxprocs,
		Allowed:    func() ([]int, error) { return allowed, nil },
		Membarrier: func() MembarrierProbe {
			return MembarrierProbe{Supported: []string{"PRIVATE_EXPEDITED", "GLOBAL"}, HasPrivateExpedited: true, Registrations: []string{"REGISTER_PRIVATE_EXPEDITED"}}
		},
		Noise: func(r NoiseRequest) (NoiseResult, error) {
			return NoiseResult{CPU: r.CPU, Elapsed: r.Duration, Threshold: r.Threshold, Gaps: 3, Longest: 20 * time.Microsecond, Wait: 0, Steal: 0, IRQs: 5, TimerIRQs: 4}, nil
		},
		Runtime: fakeRuntime,
	}
}

// statuses maps check IDs to their status.
func statuses(r Report) map[string]Status {
	m := map[string]Status{}
	for _, c := range r.Checks {
		m[c.ID] = c.Status
	}
	return m
}

// fixedIDs are the checks every report has, besides the noise checks.
var fixedIDs = []string{
	"isolated-cpus", "nohz-full", "rcu-nocbs", "irqaffinity",
	"allowed-cpus", "cgroup-cpuset", "cgroup-cpu-quota", "gomaxprocs",
	"irq-affinity", "cpu-governor", "smt-siblings",
	"membarrier-supported", "membarrier-registered", "go-runtime",
}

func TestRunFixtures(t *testing.T) {
	const (
		o = OK
		w = Warn
		f = Fail
		u = Unknown
	)
	noise := time.Millisecond
	for _, tc := range []struct {
		name    string
		host    string
		cfg     Config
		allowed []int
		gmp     int
		cands   []int
		want    map[string]Status
	}{
		{
			name: "tuned, two candidates", host: "tuned", cfg: Config{CPUs: []int{2, 3}, Noise: noise}, allowed: []int{0, 1, 2, 3, 4, 5, 6, 7}, gmp: 8, cands: []int{2, 3},
			want: map[string]Status{"isolated-cpus": o, "nohz-full": o, "rcu-nocbs": o, "irqaffinity": o, "allowed-cpus": o, "cgroup-cpuset": o,
				"cgroup-cpu-quota": o, "gomaxprocs": o, "irq-affinity": o, "cpu-governor": o, "smt-siblings": o,
				"membarrier-supported": o, "membarrier-registered": o, "noise-cpu2": o, "noise-cpu3": o},
		},
		{
			// Chosen candidates: every isolated CPU, so SMT siblings are both workers.
			name: "tuned, default candidates", host: "tuned", cfg: Config{Noise: noise}, allowed: []int{0, 1, 2, 3, 4, 5, 6, 7}, gmp: 8, cands: []int{2, 3, 6, 7},
			want: map[string]Status{"isolated-cpus": o, "smt-siblings": w, "gomaxprocs": o, "irq-affinity": o},
		},
		{
			name: "tuned, a candidate IRQs reach", host: "tuned", cfg: Config{CPUs: []int{1}, Noise: noise}, allowed: []int{0, 1, 2, 3, 4, 5, 6, 7}, gmp: 8, cands: []int{1},
			want: map[string]Status{"isolated-cpus": w, "nohz-full": w, "rcu-nocbs": w, "irqaffinity": w, "irq-affinity": w, "smt-siblings": w},
		},
		{
			name: "untuned VM", host: "untuned", cfg: Config{Noise: noise}, allowed: []int{0, 1}, gmp: 2, cands: []int{1},
			want: map[string]Status{"isolated-cpus": w, "nohz-full": w, "rcu-nocbs": w, "irqaffinity": w, "allowed-cpus": o, "cgroup-cpuset": o,
				"cgroup-cpu-quota": o, "gomaxprocs": o, "irq-affinity": w, "cpu-governor": u, "smt-siblings": o, "noise-cpu1": o},
		},
		{
			name: "GOMAXPROCS without headroom", host: "untuned", cfg: Config{Workers: 2, Noise: noise}, allowed: []int{0, 1}, gmp: 2, cands: []int{1},
			want: map[string]Status{"gomaxprocs": w},
		},
		{
			name: "GOMAXPROCS below the workers", host: "untuned", cfg: Config{Workers: 2, Noise: noise}, allowed: []int{0, 1}, gmp: 1, cands: []int{1},
			want: map[string]Status{"gomaxprocs": f},
		},
		{
			name: "a candidate outside the allowed set", host: "untuned", cfg: Config{CPUs: []int{5}, Noise: noise}, allowed: []int{0, 1}, gmp: 2, cands: []int{5},
			want: map[string]Status{"allowed-cpus": f, "cgroup-cpuset": f},
		},
		{
			name: "every allowed CPU a candidate", host: "untuned", cfg: Config{CPUs: []int{0, 1}, Noise: noise}, allowed: []int{0, 1}, gmp: 4, cands: []int{0, 1},
			want: map[string]Status{"allowed-cpus": w},
		},
		{
			name: "cgroup v2 quota below the workers", host: "quota-v2", cfg: Config{CPUs: []int{2, 3}, Noise: noise}, allowed: []int{2, 3, 4, 5}, gmp: 4, cands: []int{2, 3},
			want: map[string]Status{"cgroup-cpuset": o, "cgroup-cpu-quota": f},
		},
		{
			name: "cgroup v2 quota without headroom", host: "quota-v2", cfg: Config{CPUs: []int{2}, Noise: noise}, allowed: []int{2, 3, 4, 5}, gmp: 4, cands: []int{2},
			want: map[string]Status{"cgroup-cpu-quota": w},
		},
		{
			name: "cgroup v1 quota and cpuset", host: "quota-v1", cfg: Config{CPUs: []int{2}, Noise: noise}, allowed: []int{1, 2}, gmp: 4, cands: []int{2},
			want: map[string]Status{"cgroup-cpuset": f, "cgroup-cpu-quota": f},
		},
		{
			name: "malformed files", host: "malformed", cfg: Config{Noise: noise}, allowed: []int{0, 1, 2, 3}, gmp: 8, cands: []int{1, 2, 3},
			want: map[string]Status{"isolated-cpus": u, "nohz-full": u, "rcu-nocbs": u, "irqaffinity": u, "allowed-cpus": o, "cgroup-cpuset": u,
				"cgroup-cpu-quota": u, "irq-affinity": w, "cpu-governor": u, "smt-siblings": u},
		},
		{
			name: "no /proc, no /sys", host: "empty", cfg: Config{Noise: noise}, allowed: []int{0, 1}, gmp: 4, cands: []int{1},
			want: map[string]Status{"isolated-cpus": u, "nohz-full": u, "rcu-nocbs": u, "irqaffinity": u, "allowed-cpus": o, "cgroup-cpuset": u,
				"cgroup-cpu-quota": u, "gomaxprocs": o, "irq-affinity": u, "cpu-governor": u, "smt-siblings": u, "noise-cpu1": o},
		},
		{
			name: "noise test skipped", host: "untuned", cfg: Config{}, allowed: []int{0, 1}, gmp: 4, cands: []int{1},
			want: map[string]Status{"noise": u},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(tc.cfg, fakeEnv(tc.host, tc.allowed, tc.gmp))
			if fmt.Sprint(r.Candidates) != fmt.Sprint(tc.cands) {
				t.Errorf("candidates %v, want %v", r.Candidates, tc.cands)
			}
			got := statuses(r)
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("%s: %v, want %v (%s)", id, got[id], want, found(r, id))
				}
			}
			for _, id := range fixedIDs {
				if _, ok := got[id]; !ok {
					t.Errorf("check %s missing", id)
				}
			}
			for _, c := range r.Checks {
				if c.Found == "" || c.Name == "" || c.Group == "" {
					t.Errorf("check %s has an empty field: %+v", c.ID, c)
				}
				if (c.Status == Warn || c.Status == Fail) && c.Fix == "" {
					t.Errorf("check %s is %v without a fix", c.ID, c.Status)
				}
			}
			total := 0
			for _, n := range r.Summary {
				total += n
			}
			if total != len(r.Checks) {
				t.Errorf("summary %v counts %d of %d checks", r.Summary, total, len(r.Checks))
			}
		})
	}
}

func found(r Report, id string) string {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Found
		}
	}
	return "absent"
}

func TestMembarrierVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		goos     string
		probe    MembarrierProbe
		sup, reg Status
	}{
		{"other OS", "darwin", MembarrierProbe{SupportedErr: ctdefer.ErrNotSupported, NotSupported: true}, Unknown, Unknown},
		{"old kernel", "linux", MembarrierProbe{SupportedErr: fmt.Errorf("membarrier: %w", ctdefer.ErrNotSupported), NotSupported: true}, Warn, Unknown},
		{"no private expedited", "linux", MembarrierProbe{Supported: []string{"GLOBAL"}}, Warn, Unknown},
		{"register refused", "linux", MembarrierProbe{Supported: []string{"PRIVATE_EXPEDITED"}, HasPrivateExpedited: true, RegisterErr: errors.New("EPERM")}, OK, Fail},
		{"barrier refused", "linux", MembarrierProbe{Supported: []string{"PRIVATE_EXPEDITED"}, HasPrivateExpedited: true, BarrierErr: errors.New("EPERM")}, OK, Fail},
		{"registrations unknown", "linux", MembarrierProbe{Supported: []string{"PRIVATE_EXPEDITED"}, HasPrivateExpedited: true, RegistrationsErr: ctdefer.ErrNotSupported}, OK, OK},
	} {
		env := fakeEnv("untuned", []int{0, 1}, 4)
		env.GOOS = tc.goos
		env.Membarrier = func() MembarrierProbe { return tc.probe }
		got := statuses(Run(Config{}, env))
		if got["membarrier-supported"] != tc.sup || got["membarrier-registered"] != tc.reg {
			t.Errorf("%s: %v / %v, want %v / %v", tc.name, got["membarrier-supported"], got["membarrier-registered"], tc.sup, tc.reg)
		}
	}
}

func TestNoiseVerdicts(t *testing.T) {
	for _, tc := range []struct {
		res  NoiseResult
		err  error
		want Status
	}{
		{NoiseResult{Longest: 20 * time.Microsecond, Steal: 0}, nil, OK},
		{NoiseResult{Longest: 20 * time.Microsecond, Steal: 10 * time.Millisecond}, nil, Warn},
		{NoiseResult{Longest: 300 * time.Microsecond, Steal: -1, Wait: -1, IRQs: -1}, nil, Warn},
		{NoiseResult{Longest: 12 * time.Millisecond}, nil, Fail},
		{NoiseResult{}, errors.New("pinning: not supported"), Unknown},
	} {
		env := fakeEnv("untuned", []int{0, 1}, 4)
		env.Noise = func(r NoiseRequest) (NoiseResult, error) {
			res := tc.res
			res.CPU, res.Elapsed, res.Threshold = r.CPU, r.Duration, r.Threshold
			return res, tc.err
		}
		r := Run(Config{Noise: time.Millisecond}, env)
		if got := statuses(r)["noise-cpu1"]; got != tc.want {
			t.Errorf("%+v, %v: %v, want %v (%s)", tc.res, tc.err, got, tc.want, found(r, "noise-cpu1"))
		}
	}
}

func TestWriteJSONAndTable(t *testing.T) {
	r := Run(Config{CPUs: []int{2, 3}, Noise: time.Millisecond, Runtime: time.Second}, fakeEnv("tuned", []int{0, 1, 2, 3, 4, 5, 6, 7}, 8))
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	if len(back.Checks) != len(r.Checks) || back.Checks[0] != r.Checks[0] || back.Summary["ok"] != r.Summary["ok"] {
		t.Errorf("JSON round trip lost something: %+v", back)
	}
	if !strings.Contains(buf.String(), `"status": "ok"`) {
		t.Errorf("statuses are not names in JSON:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"CHECK", "FOUND", "STATUS", "HOW TO FIX", "[isolation]", "[noise]", "[go runtime]", "isolated CPUs", "candidate CPUs: 2-3", "asyncpreemptoff=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing blanks: %q", line)
		}
		if n := utf8.RuneCountInString(line); n > TableWidth {
			t.Errorf("a table line of %d characters, over %d: %q", n, TableWidth, line)
		}
	}
}

func TestStatusText(t *testing.T) {
	for s := OK; s <= Unknown; s++ {
		b, _ := s.MarshalText()
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: %v, %v", s, back, err)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("bogus")); err == nil {
		t.Errorf("bogus status accepted")
	}
	if Status(9).String() != "Status(9)" {
		t.Errorf("unknown status: %s", Status(9))
	}
	if (Report{}).Worst() != Unknown {
		t.Errorf("an empty report's worst is not Unknown")
	}
}

// The live noise test on this machine: it pins, runs, and reads the
// counters it can; no timing is asserted (the machine may be loaded).
func TestMeasureNoiseLive(t *testing.T) {
	env := LiveEnv()
	allowed, err := env.Allowed()
	if err != nil || len(allowed) == 0 {
		t.Skipf("allowed set: %v, %v", allowed, err)
	}
	cpu := allowed[len(allowed)-1]
	res, err := MeasureNoise(env.FS, NoiseRequest{CPU: cpu, Duration: 20 * time.Millisecond})
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Errorf("pinning off Linux succeeded")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.CPU != cpu || res.Elapsed < 20*time.Millisecond || res.Threshold != DefaultThreshold || res.Longest < 0 {
		t.Errorf("result: %+v", res)
	}
	if _, err := fs.Stat(env.FS, "proc/thread-self/schedstat"); err == nil && res.Wait < 0 {
		t.Errorf("schedstat is there but the run-queue wait is unknown: %+v", res)
	}
	if describeNoise(res) == "" {
		t.Errorf("no description")
	}
}
