package doctor

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeRuntime answers every scenario with what a 2-core VM measured, per
// second over one second: the signals go with asyncpreemptoff, GC with
// GOGC=off.
func fakeRuntime(r RuntimeRequest) (RuntimeResult, error) {
	res := RuntimeResult{Scenario: r.Scenario.ID, CPU: r.CPU, GOMAXPROCS: 2, Elapsed: time.Second, Threshold: r.Threshold,
		Signals: 50, Voluntary: 12, Involuntary: 1, GCs: 6, Pause: time.Millisecond, Longest: 800 * time.Microsecond}
	switch r.Scenario.ID {
	case ScenarioNoAsync.ID:
		res.Signals, res.Voluntary = 0, 30
	case ScenarioAlloc.ID:
		res.GCs, res.Longest = 13, 25*time.Millisecond
	case ScenarioGCOff.ID:
		res.GCs, res.Pause = 0, 0
	case ScenarioNoHead.ID:
		res.GOMAXPROCS, res.Longest = 1, 6*time.Millisecond
	case ScenarioAllFixes.ID:
		res.Signals, res.GCs, res.Pause, res.Longest = 0, 0, 0, 300*time.Microsecond
	}
	return res, nil
}

// Each runtime finding names its fix with the fix's measured figures and
// its price; a skipped or failed probe is one unknown check.
func TestRuntimeChecks(t *testing.T) {
	env := fakeEnv("untuned", []int{0, 1}, 2)
	var asked []string
	env.Runtime = func(r RuntimeRequest) (RuntimeResult, error) {
		asked = append(asked, r.Scenario.ID)
		if r.CPU != 1 || r.Duration != 2*time.Second {
			t.Errorf("scenario %s on CPU %d for %v, want CPU 1 for 2s", r.Scenario.ID, r.CPU, r.Duration)
		}
		return fakeRuntime(r)
	}
	r := Run(Config{Runtime: 2 * time.Second}, env)
	if len(asked) != len(Scenarios) {
		t.Errorf("scenarios run: %v, want all of %d", asked, len(Scenarios))
	}
	if len(r.Runtime) != len(Scenarios) || r.Runtime[1].Scenario != ScenarioNoAsync.ID || r.Runtime[1].Signals != 0 {
		t.Errorf("the report's raw results: %+v", r.Runtime)
	}
	got := statuses(r)
	for id, want := range map[string]Status{"go-preemption": Warn, "go-gc": Warn, "go-headroom": OK, "go-all-fixes": OK} {
		if got[id] != want {
			t.Errorf("%s: %v, want %v (%s)", id, got[id], want, found(r, id))
		}
	}
	fixOf := func(id string) string {
		for _, c := range r.Checks {
			if c.ID == id {
				return c.Fix
			}
		}
		return ""
	}
	for id, wants := range map[string][]string{
		"go-preemption": {"50.0 SIGURG/s", "12.0 voluntary"},
		"go-gc":         {"6.0 GC cycles/s", "13.0 GC cycles/s", "longest gap 25ms"},
		"go-headroom":   {"GOMAXPROCS 2", "GOMAXPROCS=1", "longest gap 6ms"},
		"go-all-fixes":  {"0.0 SIGURG/s", "0.0 GC cycles/s"},
	} {
		for _, w := range wants {
			if !strings.Contains(found(r, id), w) {
				t.Errorf("%s: found lacks %q: %s", id, w, found(r, id))
			}
		}
	}
	for id, wants := range map[string][]string{
		"go-preemption": {"asyncpreemptoff=1", "0.0 SIGURG/s", "30.0 voluntary", "Price:"},
		"go-gc":         {"allocation-free", "GOMEMLIMIT", "0.0 GC cycles/s", "Price:"},
		"go-headroom":   {"GOMAXPROCS(workers+1)", "Price:"},
	} {
		for _, w := range wants {
			if !strings.Contains(fixOf(id), w) {
				t.Errorf("%s: fix lacks %q: %s", id, w, fixOf(id))
			}
		}
	}

	for name, tc := range map[string]struct {
		cfg   Config
		probe func(RuntimeRequest) (RuntimeResult, error)
		want  string
	}{
		"skipped":  {Config{}, fakeRuntime, "skipped (-runtime 0)"},
		"no probe": {Config{Runtime: time.Second}, nil, "no runtime probe"},
		"fails": {Config{Runtime: time.Second}, func(RuntimeRequest) (RuntimeResult, error) {
			return RuntimeResult{}, errors.New("pinning: not supported")
		}, "not supported"},
	} {
		env.Runtime = tc.probe
		r := Run(tc.cfg, env)
		if got := statuses(r)["go-runtime"]; got != Unknown || !strings.Contains(found(r, "go-runtime"), tc.want) {
			t.Errorf("%s: %v, %q; want unknown, %q", name, got, found(r, "go-runtime"), tc.want)
		}
	}
}

// The child's environment: a setting replaces the user's of the same name,
// GODEBUG settings are merged, and new ones are added.
func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"HOME=/root", "GOGC=50", "GODEBUG=madvdontneed=1"},
		[]string{"GOGC=off", "GODEBUG=asyncpreemptoff=1", "GOMEMLIMIT=1GiB"})
	want := []string{"HOME=/root", "GOGC=off", "GODEBUG=madvdontneed=1,asyncpreemptoff=1", "GOMEMLIMIT=1GiB"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv: %q, want %q", got, want)
	}
}
