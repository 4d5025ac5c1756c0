package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	ctdhost "github.com/ctdefer/ctdefer/host"
)

// Files written into Config.Out besides the plots.
const (
	ReportFile  = "report.md"
	ResultsFile = "results.json"
)

// Run runs every workload of cfg and writes the report, the results and
// the plots into cfg.Out. A workload this host cannot run (the hot loop on
// one CPU, membarrier off Linux) is skipped and the report says why; Run
// fails only when it cannot write its files or a measurement goes wrong.
func Run(cfg Config) (*Results, error) {
	if cfg.Format == "" {
		cfg.Format = "svg"
	}
	if cfg.Format != "svg" && cfg.Format != "png" {
		return nil, fmt.Errorf("-format %q: want svg or png", cfg.Format)
	}
	if cfg.Out == "" {
		return nil, errors.New("no output directory")
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	prog := cfg.Progress
	if prog == nil {
		prog = silent{}
	}

	// Each pinned worker holds a P; the runtime, the sender and the
	// progress bar need more.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4)))

	res := &Results{Config: cfg.Name, Started: time.Now(), Machine: host.ReadMachine(hostFS), Pinned: runtime.GOOS == "linux", LoadStart: loadAvg()}
	allowed := res.Machine.Allowed
	if len(allowed) == 0 {
		var err error
		if allowed, err = host.AllowedCPUs(); err != nil {
			return nil, fmt.Errorf("the allowed CPUs: %w", err)
		}
	}
	isolated, _ := host.ReadCPUList(hostFS, host.PathIsolated)
	sender, target, two, err := chooseCPUs(cfg.CPUs, allowed, isolated)
	if err != nil {
		return nil, err
	}
	res.SenderCPU, res.TargetCPU = sender, target
	res.ClockNs = clockCost()

	modes := hotModes
	rates := append([]float64{-1}, cfg.Rates...)
	if cfg.GapThreshold <= 0 {
		cfg.GapThreshold = DefaultGapThreshold
	}
	res.Hot = HotResults{EntryEvery: cfg.EntryEvery, GapThreshold: cfg.GapThreshold, Rates: cfg.Rates}
	for _, m := range modes {
		res.Hot.Modes = append(res.Hot.Modes, m.name)
	}
	phases := []int{phaseAlone, phaseBusy, phaseIdle}
	if !two {
		only := fmt.Sprintf("this process may use only CPU %s", ctdhost.FormatCPUList(allowed))
		why := "it needs two CPUs (a sender and a pinned worker); " + only
		res.Hot.Skipped = why
		res.Grace.BusySkipped = "they need two CPUs (an updater and a busy reader); " + only
		phases = []int{phaseIdle}
		logf("hot loop skipped: %s", why)
	}
	rounds := max(cfg.HotRounds, 1)
	steps := len(graceSchemes)*len(phases) + len(cfg.ScaleCPUs)
	if two {
		steps += rounds * len(rates) * len(modes)
	}
	prog.Start(steps)

	// The hot loop's and the busy reader's CPU is isolated from the rest of
	// the process (host.Isolate) until the scale workload, whose
	// simulated CPUs are unpinned anyway.
	unisolate := func() {}
	if two {
		res.Isolation = "hot loop's CPU not isolated"
		if res.Pinned {
			if iso, err := ctdhost.Isolate(target); err != nil {
				res.Isolation = fmt.Sprintf("could not isolate the hot loop's CPU: %v", err)
			} else {
				res.Isolation = fmt.Sprintf("the other %d threads of the process moved off CPU %d (host.Isolate)", iso.Threads(), target)
				var once sync.Once
				unisolate = func() { once.Do(func() { _ = iso.Restore() }) }
				defer unisolate()
			}
		}
		setup := hotSetup{sender: sender, target: target, pinned: res.Pinned, dur: cfg.HotDuration / time.Duration(rounds), entryEvery: cfg.EntryEvery, threshold: cfg.GapThreshold, clockNs: res.ClockNs}
		byPoint := make([][]HotRun, len(rates)*len(modes))
		for round := range rounds {
			for i, rate := range rates {
				for j, m := range modes {
					prog.Step(fmt.Sprintf("hot loop: %s, %s (round %d of %d)", m.name, RateLabel(rate), round+1, rounds))
					run, err := runHot(setup, m, rate)
					if err != nil {
						return nil, fmt.Errorf("hot loop, %s at %s: %w", m.name, RateLabel(rate), err)
					}
					if run.Err != "" {
						logf("hot loop, %s at %s: %s", m.name, RateLabel(rate), run.Err)
					}
					byPoint[i*len(modes)+j] = append(byPoint[i*len(modes)+j], run)
				}
			}
		}
		for _, runs := range byPoint {
			res.Hot.Runs = append(res.Hot.Runs, combineRounds(runs))
		}
		for i := range res.Hot.Runs {
			r := &res.Hot.Runs[i]
			base, ok := res.Hot.find(r.Mode, -1)
			switch {
			case !ok:
			case base.ItersPerCPUSec > 0 && r.ItersPerCPUSec > 0:
				r.Relative = r.ItersPerCPUSec / base.ItersPerCPUSec
			case base.ItersPerSec > 0:
				r.Relative = r.ItersPerSec / base.ItersPerSec
			}
		}
	} else {
		res.Isolation = "no hot loop"
	}

	gs := graceSetup{writer: sender, reader: target, pinned: res.Pinned, dur: cfg.GraceDuration, clockNs: res.ClockNs}
	for _, scheme := range graceSchemes {
		run := GraceRun{Scheme: scheme.name, Note: scheme.note}
		for _, ph := range phases {
			prog.Step(fmt.Sprintf("grace: %s, %s", scheme.name, phaseNames[ph]))
			if run.Err != "" {
				continue
			}
			out, err := runGracePhase(gs, scheme, ph)
			if err != nil {
				if !errors.Is(err, errSkip) {
					return nil, fmt.Errorf("grace, %s, %s: %w", scheme.name, phaseNames[ph], err)
				}
				run.Err = err.Error()
				logf("grace, %s: %v", scheme.name, err)
				continue
			}
			switch ph {
			case phaseAlone:
				run.ReaderAlone = out.lookupsPerSec
			case phaseBusy:
				run.Busy = out.updates
				run.Busy.ReaderLookups = out.lookupsPerSec
			case phaseIdle:
				run.Idle = out.updates
			}
		}
		res.Grace.Runs = append(res.Grace.Runs, run)
	}

	unisolate()

	res.Scale.Series = scaleSeries
	for _, n := range cfg.ScaleCPUs {
		prog.Step(fmt.Sprintf("scale: %d CPUs", n))
		runs, err := runScale(n, cfg.ScaleDuration, res.ClockNs)
		if err != nil {
			return nil, fmt.Errorf("scale, %d CPUs: %w", n, err)
		}
		res.Scale.Runs = append(res.Scale.Runs, runs...)
	}
	prog.Finish()
	res.Took = time.Since(res.Started)
	res.LoadEnd = loadAvg()
	res.Machine.GOMAXPROCS = runtime.GOMAXPROCS(0)

	if err := writeFiles(cfg, res, logf); err != nil {
		return nil, err
	}
	return res, nil
}

// chooseCPUs picks the sender's and the hot loop's CPUs: the user's two,
// or from the allowed set, the hot loop on an isolated CPU if there is one.
// two is false when the allowed set has a single CPU (then sender and
// target are that CPU).
func chooseCPUs(user, allowed, isolated []int) (sender, target int, two bool, err error) {
	if len(user) > 0 {
		if len(user) != 2 || user[0] == user[1] {
			return 0, 0, false, fmt.Errorf("-cpus %v: want two distinct CPUs, sender,target", user)
		}
		if len(allowed) > 0 && !host.Subset(user, allowed) {
			return 0, 0, false, fmt.Errorf("-cpus %v: the process may use only CPUs %s", user, ctdhost.FormatCPUList(allowed))
		}
		return user[0], user[1], true, nil
	}
	switch len(allowed) {
	case 0:
		return 0, 0, false, errors.New("no allowed CPU")
	case 1:
		return allowed[0], allowed[0], false, nil
	}
	target = allowed[len(allowed)-1]
	if iso := host.Intersect(allowed, isolated); len(iso) > 0 {
		target = iso[len(iso)-1]
	}
	for _, c := range allowed {
		if c != target && !slices.Contains(isolated, c) {
			return c, target, true, nil
		}
	}
	for _, c := range allowed {
		if c != target {
			return c, target, true, nil
		}
	}
	return 0, 0, false, errors.New("unreachable")
}

// writeFiles writes the plots, the report and the results.
func writeFiles(cfg Config, res *Results, logf func(string, ...any)) error {
	type maker struct {
		stem string
		make func() (*Figure, error)
	}
	var makers []maker
	if res.Hot.Skipped == "" {
		makers = append(makers,
			maker{PlotCDF, func() (*Figure, error) { return plotCDF(res.Hot) }},
			maker{PlotThroughput, func() (*Figure, error) { return plotThroughput(res.Hot) }},
			maker{PlotGaps, func() (*Figure, error) { return plotGaps(res.Hot) }},
		)
	}
	makers = append(makers, maker{PlotScale, func() (*Figure, error) { return plotScale(res.Scale) }})
	for _, m := range makers {
		fig, err := m.make()
		if err != nil {
			logf("plot %s not drawn: %v", m.stem, err)
			continue
		}
		name := m.stem + "." + cfg.Format
		if err := savePlots(fig, filepath.Join(cfg.Out, name), cfg.Format); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		res.Files = append(res.Files, name)
	}
	res.Files = append(res.Files, ReportFile, ResultsFile)
	if err := writeFile(filepath.Join(cfg.Out, ReportFile), func(w io.Writer) error { return WriteReport(w, res) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(cfg.Out, ResultsFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	})
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type silent struct{}

func (silent) Start(int)   {}
func (silent) Step(string) {}
func (silent) Finish()     {}

// loadAvg returns the 1, 5 and 15 minute load averages, as uptime prints
// them; "" where /proc/loadavg cannot be read.
func loadAvg() string {
	s, err := host.ReadString(hostFS, "proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(s)
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], ", ")
}
