package doctor

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	ctdhost "github.com/ctdefer/ctdefer/host"
)

// Report is the doctor's answer.
type Report struct {
	Machine        *host.Machine `json:"machine,omitempty"`
	Candidates     []int         `json:"candidate_cpus"`
	CandidatesFrom string        `json:"candidates_from"`
	Housekeeping   []int         `json:"housekeeping_cpus"`
	Workers        int           `json:"workers"`
	Checks         []Check       `json:"checks"`
	// Runtime: what the pinned loop saw in each Go runtime scenario, in
	// Scenarios order; empty when they did not run.
	Runtime []RuntimeResult `json:"go_runtime,omitempty"`
	Summary map[string]int  `json:"summary"`
}

// Worst returns the worst status among the checks that looked (Fail over
// Warn over OK); Unknown only if no check looked.
func (r Report) Worst() Status {
	worst, looked := OK, false
	for _, c := range r.Checks {
		if c.Status == Unknown {
			continue
		}
		looked = true
		if c.Status > worst {
			worst = c.Status
		}
	}
	if !looked {
		return Unknown
	}
	return worst
}

// state is what every check may need, read once.
type state struct {
	cfg          Config
	env          Env
	fs           fs.FS
	allowed      []int
	allowedErr   error
	isolated     []int
	isolatedErr  error
	cands        []int
	housekeeping []int
	workers      int
	cmd          host.Cmdline
	cmdErr       error
	last         int  // highest possible CPU, -1 if unknown
	sysfs        bool // /sys/devices/system/cpu is there
	runtime      []RuntimeResult
}

// Run performs every check.
func Run(cfg Config, env Env) Report {
	st := &state{cfg: cfg, env: env, fs: env.FS}
	if cfg.Threshold <= 0 {
		st.cfg.Threshold = DefaultThreshold
	}
	st.allowed, st.allowedErr = env.Allowed()
	st.isolated, st.isolatedErr = host.ReadCPUList(env.FS, host.PathIsolated)
	st.cmd, st.cmdErr = host.ReadCmdline(env.FS)
	st.last = host.LastPossibleCPU(env.FS)
	_, onlineErr := host.ReadCPUList(env.FS, host.PathOnline)
	st.sysfs = onlineErr == nil

	r := Report{}
	if env.Machine != nil {
		m := env.Machine()
		r.Machine = &m
	}
	st.cands, r.CandidatesFrom = candidates(cfg.CPUs, st.allowed, st.isolated)
	st.housekeeping = host.Minus(st.allowed, st.cands)
	st.workers = cfg.Workers
	if st.workers <= 0 {
		st.workers = len(st.cands)
	}
	r.Candidates, r.Housekeeping, r.Workers = st.cands, st.housekeeping, st.workers

	r.Checks = append(r.Checks,
		st.checkIsolated(), st.checkNohzFull(), st.checkRCUNocbs(), st.checkIRQAffinityParam(),
		st.checkAllowed(),
	)
	r.Checks = append(r.Checks, st.checkCgroup()...)
	r.Checks = append(r.Checks,
		st.checkGOMAXPROCS(),
		st.checkIRQs(),
		st.checkGovernor(), st.checkSMT(),
	)
	r.Checks = append(r.Checks, st.checkMembarrier()...)
	r.Checks = append(r.Checks, st.checkNoise()...)
	r.Checks = append(r.Checks, st.checkRuntime()...)
	r.Runtime = st.runtime

	r.Summary = map[string]int{}
	for _, c := range r.Checks {
		r.Summary[c.Status.String()]++
	}
	return r
}

// candidates picks the CPUs to check: the user's, else the isolated ones
// the process may use, else the allowed set but its first CPU.
func candidates(user, allowed, isolated []int) ([]int, string) {
	switch {
	case len(user) > 0:
		return slices.Clone(user), "-cpus"
	case len(host.Intersect(allowed, isolated)) > 0:
		return host.Intersect(allowed, isolated), "the isolated CPUs of the allowed set"
	case len(allowed) > 1:
		return slices.Clone(allowed[1:]), "all allowed CPUs but the first, left for housekeeping"
	}
	return slices.Clone(allowed), "the allowed set"
}

// list formats a CPU list for people: "none" when empty.
func list(cpus []int) string {
	if len(cpus) == 0 {
		return "none"
	}
	return ctdhost.FormatCPUList(cpus)
}

// hk is the housekeeping list to suggest in fixes.
func (st *state) hk() string {
	if len(st.housekeeping) == 0 {
		return "<housekeeping CPUs>"
	}
	return ctdhost.FormatCPUList(st.housekeeping)
}

func (st *state) cl() string { return list(st.cands) }

// cmdlineList parses a CPU-list parameter of the command line.
func (st *state) cmdlineList(key string) (cpus []int, present bool, raw string, err error) {
	v, present, _ := st.cmd.Get(key)
	if !present {
		return nil, false, "", nil
	}
	cpus, err = host.ParseCPUListLast(v, st.last)
	return cpus, true, key + "=" + v, err
}

// abbreviate joins the first n items and says how many more there are.
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", +%d more", len(items)-n)
}

// plural writes "1 worker", "2 workers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
