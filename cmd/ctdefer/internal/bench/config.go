// Package bench runs ctdefer's side-by-side workloads in one process, so
// that every ratio comes from one run on one machine, and writes a Markdown
// report, the results as JSON and plots drawn with gonum.org/v1/plot.
//
// Three workloads:
//
//   - Hot-loop disturbance (hotloop.go): a pinned worker runs a fixed loop
//     while a sender pinned to another CPU delivers work at several rates
//     and back-to-back, by each delivery mode; the worker's throughput
//     against no sender, its iteration-time tail and the sender's cost.
//   - Grace periods (grace.go): an updater waits until no reader can hold
//     what it unpublished, by each scheme, with a busy reader and an idle
//     one; the updater's wait and the reader's lookups.
//   - Scale (scale.go): grace periods, expedited barriers and lazy-TLB
//     shootdowns against the number of simulated (unpinned) CPUs, in ns
//     per CPU.
//
// It uses only the public API of the ctdefer module.
package bench

import (
	"io"
	"time"
)

// Config is one run's plan.
type Config struct {
	Name   string // "quick", "default", "smoke": printed in the report
	Out    string // directory for the report, the JSON and the plots
	Format string // plot format: "svg" (default) or "png"
	// CPUs: the sender's and the hot loop's CPU; nil chooses (see
	// chooseCPUs).
	CPUs []int

	// Hot-loop disturbance.
	HotDuration time.Duration // per (mode, rate), split over the rounds
	// HotRounds: every (mode, rate) runs this many times, the rounds
	// interleaved (round 1 of every point, then round 2, ...), so that a
	// burst of noise from other tasks hits one round of several points
	// rather than every round of one; throughput is the best round's.
	HotRounds  int
	Rates      []float64     // sends per second; 0 is back-to-back; the no-sender baseline always runs
	EntryEvery time.Duration // the hot loop's housekeeping kernel entries
	// GapThreshold: a hot-loop iteration longer than this is a gap, and
	// is charged to its source; zero means DefaultGapThreshold.
	GapThreshold time.Duration

	// Grace periods.
	GraceDuration time.Duration // per (scheme, phase)

	// Scale.
	ScaleCPUs     []int         // simulated CPU counts
	ScaleDuration time.Duration // per (series, count)

	// Progress is told about each step; nil: silent.
	Progress Progress
	// Log receives notes as the run goes (skipped workloads, errors); nil:
	// none.
	Log io.Writer
}

// Progress follows a run: Start with the number of steps, Step before each.
type Progress interface {
	Start(steps int)
	Step(desc string)
	Finish()
}

// DefaultGapThreshold is the hot loop's gap threshold: a hundred times an
// iteration.
const DefaultGapThreshold = 10 * time.Microsecond

// Quick is the CI preset: every workload, short, in about half a minute.
func Quick() Config {
	return Config{
		Name:          "quick",
		HotDuration:   300 * time.Millisecond,
		HotRounds:     2,
		Rates:         []float64{1e3, 1e4, 1e5, 1e6, 0},
		EntryEvery:    100 * time.Microsecond,
		GraceDuration: 250 * time.Millisecond,
		ScaleCPUs:     []int{1, 4, 16, 64, 256, 1024},
		ScaleDuration: 60 * time.Millisecond,
	}
}

// Default is the full run, a few minutes: what the README quotes.
func Default() Config {
	return Config{
		Name:          "default",
		HotDuration:   2400 * time.Millisecond,
		HotRounds:     3,
		Rates:         []float64{1e3, 1e4, 1e5, 1e6, 0},
		EntryEvery:    100 * time.Microsecond,
		GraceDuration: 1500 * time.Millisecond,
		ScaleCPUs:     []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		ScaleDuration: 300 * time.Millisecond,
	}
}

// Smoke is the smallest run that still draws every plot: for tests.
func Smoke() Config {
	return Config{
		Name:          "smoke",
		HotDuration:   25 * time.Millisecond,
		HotRounds:     1,
		Rates:         []float64{1e5, 0},
		EntryEvery:    100 * time.Microsecond,
		GraceDuration: 25 * time.Millisecond,
		ScaleCPUs:     []int{1, 8},
		ScaleDuration: 5 * time.Millisecond,
	}
}
