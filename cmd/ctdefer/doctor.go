package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/doctor"
	ctdhost "github.com/ctdefer/ctdefer/host"
)

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg doctor.Config
	cpus := fs.String("cpus", "", "candidate CPUs, the ones the workers will be pinned to (default: the isolated CPUs the process may use, else all allowed CPUs but the first)")
	fs.IntVar(&cfg.Workers, "workers", 0, "planned number of pinned workers (default: one per candidate CPU)")
	fs.DurationVar(&cfg.Noise, "noise", time.Second, "length of the noise test on each candidate CPU (0 skips it)")
	fs.DurationVar(&cfg.Runtime, "runtime", 3*time.Second, "length of each Go runtime scenario (as set up, and once per fix) on the first candidate CPU (0 skips them)")
	fs.DurationVar(&cfg.Threshold, "threshold", doctor.DefaultThreshold, "a gap in the noise test's loop longer than this counts as an interruption")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "exit with status 1 if a check warns, not only if one fails")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ctdefer doctor [flags]\n\nChecks this host for pinned workers on isolated CPUs: isolation, containment,\ninterrupts, CPU state, kernel support, measured noise and the Go runtime's own\nnoise. Exits 1 when a check fails (-strict: or warns).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *cpus != "" {
		list, err := ctdhost.ParseCPUList(*cpus)
		if err != nil {
			return fmt.Errorf("-cpus: %w", err)
		}
		cfg.CPUs = list
	}
	if cfg.Workers < 0 || cfg.Noise < 0 || cfg.Runtime < 0 || cfg.Threshold < 0 {
		return fmt.Errorf("-workers, -noise, -runtime and -threshold must not be negative")
	}
	r := doctor.Run(cfg, doctor.LiveEnv())
	var err error
	if *asJSON {
		err = doctor.WriteJSON(stdout, r)
	} else {
		err = doctor.WriteTable(stdout, r)
	}
	if err != nil {
		return err
	}
	if r.Summary[doctor.Fail.String()] > 0 || *strict && r.Summary[doctor.Warn.String()] > 0 {
		return exitError(1)
	}
	return nil
}
