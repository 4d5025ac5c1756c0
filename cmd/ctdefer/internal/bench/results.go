package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	"github.com/ctdefer/ctdefer/stats"
)

// Results is everything one run measured; results.json is its JSON form.
type Results struct {
	Config    string        `json:"config"`
	Started   time.Time     `json:"started"`
	Took      time.Duration `json:"took_ns"`
	Machine   host.Machine  `json:"machine"`
	SenderCPU int           `json:"sender_cpu"`
	TargetCPU int           `json:"target_cpu"`
	Pinned    bool          `json:"pinned"`
	// Isolation says whether the hot loop's CPU was isolated
	// (host.Isolate) during the hot-loop workload, or why not.
	Isolation string `json:"isolation"`
	// Load is the machine's load average (/proc/loadavg: 1, 5 and 15
	// minutes) when the run started and when it ended; "" if unknown.
	LoadStart string `json:"loadavg_start,omitempty"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
	// ClockNs is the cost of one time.Now, subtracted from per-call timings.
	ClockNs float64 `json:"clock_ns"`

	Hot   HotResults   `json:"hot_loop"`
	Grace GraceResults `json:"grace"`
	Scale ScaleResults `json:"scale"`

	Files []string `json:"files"` // written into the output directory
}

// HotResults is the hot-loop disturbance workload.
type HotResults struct {
	Skipped    string        `json:"skipped,omitempty"` // why it did not run
	EntryEvery time.Duration `json:"entry_every_ns"`
	// GapThreshold: an iteration longer than this is a gap (see GapSources).
	GapThreshold time.Duration `json:"gap_threshold_ns"`
	Modes        []string      `json:"modes"`
	Rates        []float64     `json:"rates"` // 0: back-to-back; the baseline (-1) is not listed
	Runs         []HotRun      `json:"runs"`
}

// HotRun is one (mode, rate) of the hot-loop workload.
type HotRun struct {
	Mode string  `json:"mode"`
	Rate float64 `json:"rate"` // sends per second asked; 0 back-to-back; -1 no sender
	Err  string  `json:"error,omitempty"`

	Iters       uint64        `json:"iterations"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	ItersPerSec float64       `json:"iterations_per_s"`
	// OnCPU: the worker thread's time on its CPU while it ran (schedstat),
	// 0 if unknown; CPUShare is OnCPU over Elapsed: below 1, other tasks
	// took the CPU from the worker.
	OnCPU          time.Duration `json:"on_cpu_ns"`
	CPUShare       float64       `json:"cpu_share"`
	ItersPerCPUSec float64       `json:"iterations_per_cpu_s"` // the best round's
	// Relative: throughput against the mode's no-sender run, per second of
	// CPU time the worker got where that is known (so time other processes
	// took is not counted as the sender's disturbance), else per second.
	Relative float64       `json:"relative_throughput"`
	P50      time.Duration `json:"p50_ns"`
	P999     time.Duration `json:"p99_9_ns"`
	P9999    time.Duration `json:"p99_99_ns"`
	Max      time.Duration `json:"max_ns"`

	Sent        uint64  `json:"sent"`
	SendsPerSec float64 `json:"sends_per_s"`
	SenderNs    float64 `json:"sender_ns_per_send"`
	// SenderBelow: at a rate, the call was too cheap to time alone: it
	// took less than this (half a clock read); SenderNs is then 0.
	SenderBelow float64 `json:"sender_ns_below,omitempty"`
	// InLoop: deliveries handled inside the hot loop (at a poll point, in
	// user mode): an interruption each. AtEntry: deliveries that ran at a
	// housekeeping kernel entry (deferred).
	InLoop  uint64 `json:"handled_in_loop"`
	AtEntry uint64 `json:"handled_at_entry"`
	// Deferred and IPIs: how Defer delivered (ctdefer modes only).
	Deferred uint64 `json:"deferred,omitempty"`
	IPIs     uint64 `json:"ipis,omitempty"`

	// Gaps: the iterations longer than the gap threshold, by source.
	Gaps GapSources `json:"gaps"`

	// Rounds: how many rounds the figures combine (see Config.HotRounds).
	Rounds int `json:"rounds"`

	hist *stats.Histogram // every round's iterations
	cdf  []CDFPoint       // for the plot
}

// RateLabel names a rate for tables and plots.
func RateLabel(r float64) string {
	switch {
	case r < 0:
		return "no sender"
	case r == 0:
		return "back-to-back"
	}
	e := math.Log10(r)
	if e == math.Trunc(e) {
		return fmt.Sprintf("1e%d/s", int(e))
	}
	return fmt.Sprintf("%g/s", r)
}

// GraceResults is the grace-period workload.
type GraceResults struct {
	BusySkipped string     `json:"busy_skipped,omitempty"` // why the busy-reader phases did not run
	Runs        []GraceRun `json:"runs"`
}

// GraceRun is one scheme: its phases' figures.
type GraceRun struct {
	Scheme string `json:"scheme"`
	Note   string `json:"note"`
	Err    string `json:"error,omitempty"`
	// Idle: updates while the reader is idle; Busy: while it reads.
	Idle GracePhase `json:"reader_idle"`
	Busy GracePhase `json:"reader_busy"`
	// ReaderAlone: the reader's lookups per second (of CPU time, as in
	// GracePhase) with no updater.
	ReaderAlone float64 `json:"reader_alone_lookups_per_s"`
}

// GracePhase is one phase of a scheme.
type GracePhase struct {
	Ran     bool          `json:"ran"`
	Ops     uint64        `json:"updates"`
	NsPerOp float64       `json:"ns_per_update"` // the mean
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	// Batch: updates timed together (1: each alone; more for updates too
	// cheap to time alone, whose P50 and P99 are then of batch means).
	Batch int `json:"batch"`
	// ReaderLookups: the reader's lookups per second of its time on the
	// CPU (per second where that is unknown) during the phase (busy phase
	// only).
	ReaderLookups float64 `json:"reader_lookups_per_s,omitempty"`
}

// ScaleResults is the scale workload.
type ScaleResults struct {
	Series []string   `json:"series"`
	Runs   []ScaleRun `json:"runs"`
}

// ScaleRun is one (series, CPU count).
type ScaleRun struct {
	Series  string  `json:"series"`
	CPUs    int     `json:"cpus"`
	NsPerOp float64 `json:"ns_per_op"`
	Ops     uint64  `json:"ops"`
	Err     string  `json:"error,omitempty"`
}

// NsPerCPU is the cost per simulated CPU.
func (r ScaleRun) NsPerCPU() float64 { return r.NsPerOp / float64(r.CPUs) }
