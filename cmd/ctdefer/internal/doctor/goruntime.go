package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The Go runtime interrupts a pinned loop on its own: sysmon's asynchronous
// preemption (a SIGURG to the thread of a goroutine that has run for 10 ms),
// cooperative preemption (the same request, honoured at a function call:
// the locked thread hands its P off and sleeps until it is back), and the
// garbage collector's stop-the-world phases and mark assists. The runtime
// checks measure them on one candidate CPU, once as the program is set up
// and once per fix, each in a child process (this executable re-run with
// ChildCommand and the environment changed), so that every fix comes with
// its measured effect.

// ChildCommand is the hidden subcommand under which the executable runs one
// runtime scenario and prints its RuntimeResult as JSON (RunChild).
const ChildCommand = "_runtime-noise"

// Scenario is one way of running the pinned loop.
type Scenario struct {
	ID   string   `json:"id"`
	Desc string   `json:"desc"`
	Env  []string `json:"env,omitempty"` // added to the child's environment
	// AllocLoop: the loop allocates (64 bytes every 64 clock reads)
	// instead of being allocation-free.
	AllocLoop bool `json:"alloc_loop,omitempty"`
}

// The scenarios, in report order. Every one runs the rest of a program
// beside the loop: a goroutine that wakes every millisecond and allocates
// 16 KiB (16 MB/s of garbage), as a controller or a server would.
var (
	ScenarioAsIs     = Scenario{ID: "as-is", Desc: "as set up (GOGC, GODEBUG, GOMAXPROCS of this process)"}
	ScenarioNoAsync  = Scenario{ID: "asyncpreemptoff", Desc: "GODEBUG=asyncpreemptoff=1", Env: []string{"GODEBUG=asyncpreemptoff=1"}}
	ScenarioAlloc    = Scenario{ID: "alloc-loop", Desc: "the loop allocates 64 B every 64 clock reads", AllocLoop: true}
	ScenarioGCOff    = Scenario{ID: "gogc-off", Desc: "GOGC=off GOMEMLIMIT=1GiB", Env: []string{"GOGC=off", "GOMEMLIMIT=1GiB"}}
	ScenarioNoHead   = Scenario{ID: "gomaxprocs-1", Desc: "GOMAXPROCS=1: no P to spare", Env: []string{"GOMAXPROCS=1"}}
	ScenarioAllFixes = Scenario{ID: "all-fixes", Desc: "asyncpreemptoff=1, GOGC=off GOMEMLIMIT=1GiB, allocation-free loop, GOMAXPROCS headroom",
		Env: []string{"GODEBUG=asyncpreemptoff=1", "GOGC=off", "GOMEMLIMIT=1GiB"}}
	Scenarios = []Scenario{ScenarioAsIs, ScenarioNoAsync, ScenarioAlloc, ScenarioGCOff, ScenarioNoHead, ScenarioAllFixes}
)

// RuntimeRequest asks for one scenario on one CPU.
type RuntimeRequest struct {
	Scenario  Scenario
	CPU       int
	Duration  time.Duration
	Threshold time.Duration
}

// RuntimeResult is what the pinned loop saw in one scenario.
type RuntimeResult struct {
	Scenario   string        `json:"scenario"`
	CPU        int           `json:"cpu"`
	GOMAXPROCS int           `json:"gomaxprocs"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Signals: SIGURG received by the process (os/signal), nearly all of
	// them asynchronous preemption requests. Signals that arrive while
	// one is pending are merged, so this is a lower bound.
	Signals uint64 `json:"sigurg"`
	// Voluntary and Involuntary: the loop thread's context switches
	// (/proc/thread-self/status); -1 if unknown.
	Voluntary   int64 `json:"voluntary_switches"`
	Involuntary int64 `json:"involuntary_switches"`
	// GCs: completed GC cycles; Pause: their stop-the-world pauses added
	// up, and the longest (runtime/metrics, /sched/pauses/total/gc).
	GCs       uint64        `json:"gc_cycles"`
	Pause     time.Duration `json:"stw_pause_ns"`
	MaxPause  time.Duration `json:"max_stw_pause_ns"`
	Gaps      uint64        `json:"gaps"`
	Longest   time.Duration `json:"longest_gap_ns"`
	Threshold time.Duration `json:"threshold_ns"`
}

// PerSecond scales a count to the elapsed time.
func (r RuntimeResult) PerSecond(n float64) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return n / r.Elapsed.Seconds()
}

// RunChild is the child's side: it parses the scenario from args, runs the
// loop and writes the result as JSON.
func RunChild(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(ChildCommand, flag.ContinueOnError)
	cpu := fs.Int("cpu", 0, "")
	d := fs.Duration("d", time.Second, "")
	th := fs.Duration("threshold", DefaultThreshold, "")
	id := fs.String("scenario", "", "")
	alloc := fs.Bool("alloc", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := measureRuntime(*cpu, *d, *th, *alloc)
	if err != nil {
		return err
	}
	res.Scenario = *id
	return json.NewEncoder(stdout).Encode(res)
}

// RunScenario runs req in a child process of exe (this executable).
func RunScenario(exe string, req RuntimeRequest) (RuntimeResult, error) {
	args := []string{ChildCommand, "-cpu", strconv.Itoa(req.CPU), "-d", req.Duration.String(),
		"-threshold", req.Threshold.String(), "-scenario", req.Scenario.ID}
	if req.Scenario.AllocLoop {
		args = append(args, "-alloc")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = childEnv(os.Environ(), req.Scenario.Env)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return RuntimeResult{}, fmt.Errorf("scenario %s: %w: %s", req.Scenario.ID, err, strings.TrimSpace(errOut.String()))
	}
	var res RuntimeResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return RuntimeResult{}, fmt.Errorf("scenario %s: %w", req.Scenario.ID, err)
	}
	return res, nil
}

// childEnv is base with the settings of set replacing those of the same
// name. GODEBUG settings are merged: the child keeps the user's others.
func childEnv(base, set []string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, val, _ := strings.Cut(kv, "=")
		replaced := false
		for _, s := range set {
			sname, sval, _ := strings.Cut(s, "=")
			if sname != name {
				continue
			}
			replaced = true
			if name == "GODEBUG" && val != "" {
				out = append(out, "GODEBUG="+val+","+sval) // the later setting wins
			} else {
				out = append(out, s)
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	for _, s := range set {
		sname, _, _ := strings.Cut(s, "=")
		found := false
		for _, kv := range base {
			if name, _, _ := strings.Cut(kv, "="); name == sname {
				found = true
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

// errNoExecutable: the runtime checks cannot re-run this program.
var errNoExecutable = errors.New("cannot find this executable to re-run it")
