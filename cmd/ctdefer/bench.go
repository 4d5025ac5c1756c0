package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/bench"
	ctdhost "github.com/ctdefer/ctdefer/host"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a short run (under a minute), for CI")
	out := fs.String("out", "ctdefer-bench", "directory for report.md, results.json and the plots; a relative one is relative to the directory the command was run from (under \"go run -C dir\" too)")
	format := fs.String("format", "svg", "plot format: svg or png")
	cpus := fs.String("cpus", "", "two CPUs, sender,target (default: from the allowed set, the hot loop on an isolated CPU if there is one)")
	progress := fs.Bool("progress", true, "show progress on standard error: a bar on a terminal, one line per step otherwise")
	smoke := fs.Bool("smoke", false, "the smallest run that draws every plot (seconds; for tests, not for figures)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ctdefer bench [flags]\n\nMeasures, in one process: hot-loop disturbance by delivery mode, grace periods\nagainst their alternatives, and the cost per CPU against the number of CPUs.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := bench.Default()
	switch {
	case *smoke:
		cfg = bench.Smoke()
	case *quick:
		cfg = bench.Quick()
	}
	cfg.Out, cfg.Format, cfg.Log = userPath(*out), *format, stderr
	if *cpus != "" {
		pair, err := parseCPUPair(*cpus)
		if err != nil {
			return err
		}
		cfg.CPUs = pair
	}
	if *progress {
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			cfg.Progress = &bar{w: stderr}
		} else {
			cfg.Progress = &lines{w: stderr} // a log, not a terminal: no carriage returns
		}
	}
	res, err := bench.Run(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "took %v; wrote", res.Took.Round(time.Second))
	for _, f := range res.Files {
		fmt.Fprintf(stdout, " %s", filepath.Join(cfg.Out, f))
	}
	fmt.Fprintln(stdout)
	return nil
}

// userPath resolves a relative path against the directory the user ran
// the command from. That is the working directory, except under
// "go run -C dir": the go command changes into dir and runs the program
// there, but leaves $PWD, the shell's directory, as it was. So a program
// that go run built (it lives in a go-build directory) takes $PWD when it
// is an absolute path to a directory.
func userPath(p string) string {
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	return resolveUserPath(p, wd, os.Getenv("PWD"), isGoRunBinary(exe), isDir)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// isGoRunBinary: exe was built by go run (GOTMPDIR/go-buildNNN/.../exe/).
func isGoRunBinary(exe string) bool {
	return strings.Contains(filepath.ToSlash(exe), "/go-build")
}

// resolveUserPath is userPath's rule, for tests.
func resolveUserPath(p, wd, pwd string, goRun bool, isDir func(string) bool) string {
	if filepath.IsAbs(p) {
		return p
	}
	base := wd
	if goRun && filepath.IsAbs(pwd) && isDir(pwd) {
		base = pwd
	}
	if base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// parseCPUPair parses -cpus "sender,target", keeping the order (a CPU list
// would be sorted).
func parseCPUPair(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return nil, fmt.Errorf("-cpus %q: want two CPUs, sender,target", s)
	}
	var pair []int
	for _, p := range parts {
		cpu, err := ctdhost.ParseCPUList(p)
		if err != nil || len(cpu) != 1 {
			return nil, fmt.Errorf("-cpus %q: %q is not a CPU number", s, p)
		}
		pair = append(pair, cpu[0])
	}
	return pair, nil
}

// bar shows the run's progress with schollz/progressbar. It renders only
// between measurements (at Step), never during one.
type bar struct {
	w     io.Writer
	b     *progressbar.ProgressBar
	steps int
}

func (p *bar) Start(steps int) {
	p.b = progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionClearOnFinish(),
	)
}

// Step counts the step before it as done and names the next.
func (p *bar) Step(desc string) {
	p.b.Describe(desc)
	if p.steps > 0 {
		_ = p.b.Add(1)
	}
	p.steps++
}

func (p *bar) Finish() {
	_ = p.b.Finish()
	fmt.Fprintln(p.w)
}

// lines shows the run's progress as one line per step, for logs.
type lines struct {
	w           io.Writer
	steps, done int
	start       time.Time
}

func (p *lines) Start(steps int) { p.steps, p.start = steps, time.Now() }

func (p *lines) Step(desc string) {
	p.done++
	fmt.Fprintf(p.w, "[%d/%d %s] %s\n", p.done, p.steps, time.Since(p.start).Round(time.Second), desc)
}

func (p *lines) Finish() {}
