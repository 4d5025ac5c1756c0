//go:build ctdefer_explore

package explore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Scenario is a test to run under every schedule. Setup must build fresh
// state on every call (it is called once per run) and declare the threads
// with Run.Go and the final checks with Run.Check. Atomic operations in
// Setup are not scheduling points.
type Scenario struct {
	Name  string
	Setup func(r *Run)
}

// Options bounds an exploration. The zero value explores every schedule.
type Options struct {
	// Preemptions, if positive, is the most preemptions (switches away
	// from a thread that could have continued) a schedule may contain.
	// Zero means no bound: the exploration is exhaustive. Bugs that need
	// few preemptions are found with a small bound, as loom and CHESS
	// observed (two or three catch most).
	Preemptions int
	// MaxSteps is the longest run allowed; a longer one is reported as a
	// livelock (ErrLivelock). Zero means DefaultMaxSteps.
	MaxSteps int
	// MaxSchedules, if positive, stops the exploration after that many
	// runs; Result.Complete is then false.
	MaxSchedules int
	// Timeouts makes time passing a choice of the explorer: a thread in a
	// wait that a deadline or a timeout can end (atomicx.AwaitTimed, as
	// percpu.Waiter uses when its context has a deadline or it has a
	// Timeout) can be scheduled at any step, and if its condition does not
	// hold then, its time has run out. Every point at which the timeout
	// could fire is explored, and no clock is read. Without it, such waits
	// end only when their condition holds, as untimed ones do.
	Timeouts bool
}

// DefaultMaxSteps is the step limit when Options.MaxSteps is zero.
const DefaultMaxSteps = 10000

// Result is the outcome of an exploration.
type Result struct {
	// Schedules is the number of runs performed, each a distinct schedule,
	// including the one that found the violation.
	Schedules int
	// Complete is true if every schedule within the bound was run.
	Complete bool
	// Longest is the length, in steps, of the longest schedule run.
	Longest int
	// Violation is the first violation found, or nil.
	Violation *Violation
}

// Schedule is the sequence of scheduling choices of one run: the id
// (declaration index) of the thread that runs each step.
type Schedule []int

func (s Schedule) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, t := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, t)
	}
	b.WriteByte(']')
	return b.String()
}

// Step is one step of a traced run: the thread that ran, the operation it
// performed first ("wait" if it returned from Wait, "timeout" if its timed
// wait expired) and the word it touched,
// with the word's value before the operation and at the end of the step.
type Step struct {
	Thread        string
	Op            string
	Word          string
	Before, After string
}

func (s Step) String() string {
	if s.Word == "" {
		return fmt.Sprintf("%-10s %-5s", s.Thread, s.Op)
	}
	return fmt.Sprintf("%-10s %-5s %-8s %s -> %s", s.Thread, s.Op, s.Word, s.Before, s.After)
}

// Violation is a failed run: its error, its schedule and, when available,
// its trace.
type Violation struct {
	Err      error
	Schedule Schedule
	Trace    []Step
}

func (v *Violation) Error() string { return v.Err.Error() }

// Unwrap returns the run's error.
func (v *Violation) Unwrap() error { return v.Err }

// TraceString formats the last max steps of the trace (all if max <= 0),
// one per line, each prefixed with its step number.
func (v *Violation) TraceString(max int) string {
	var b strings.Builder
	start := 0
	if max > 0 && len(v.Trace) > max {
		start = len(v.Trace) - max
		fmt.Fprintf(&b, "  ... %d earlier steps\n", start)
	}
	for i := start; i < len(v.Trace); i++ {
		fmt.Fprintf(&b, "  %3d %v\n", i, v.Trace[i])
	}
	return b.String()
}

// Explore runs s under every schedule (within o's bounds), depth first,
// and stops at the first violation, which it re-runs with tracing.
func Explore(s Scenario, o Options) Result {
	mu.Lock()
	defer mu.Unlock()
	defer install()()

	maxSteps := o.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	d := &dfs{}
	var res Result
	for {
		r := execute(s, d, o, maxSteps, false)
		res.Schedules++
		res.Longest = max(res.Longest, len(r.sched))
		if r.violation == nil && len(r.sched) != len(d.stack) {
			r.violation = fmt.Errorf("%w: run ended after %d of %d recorded decisions", ErrNondeterministic, len(r.sched), len(d.stack))
		}
		if r.violation != nil {
			res.Violation = traced(s, r, o, maxSteps)
			return res
		}
		if !d.next() {
			res.Complete = true
			return res
		}
		if o.MaxSchedules > 0 && res.Schedules >= o.MaxSchedules {
			return res
		}
	}
}

// traced re-runs the schedule of the failed run r with tracing.
func traced(s Scenario, r *Run, o Options, maxSteps int) *Violation {
	v := &Violation{Err: r.violation, Schedule: slices.Clone(r.sched)}
	again := execute(s, &replay{sched: v.Schedule}, Options{Timeouts: o.Timeouts}, maxSteps, true)
	v.Trace = again.trace
	if again.violation == nil || again.violation.Error() != r.violation.Error() {
		v.Err = fmt.Errorf("%w (replay gave: %v)", v.Err, again.violation)
	}
	return v
}

// Replay runs s once under sched and returns its violation, a *Violation
// with a trace, or nil. Choices past the end of sched continue the running
// thread (or the lowest enabled one).
func Replay(s Scenario, sched Schedule) error {
	return runOne(s, &replay{sched: sched})
}

// FromBytes runs s once, using data as the scheduler's choices: at each
// decision with n enabled threads, the next byte b picks the (b mod n)-th,
// the running thread first; when data is used up, the running thread
// continues. It returns the violation, a *Violation with a trace, or nil.
// It is meant for fuzzing: every input is a valid schedule.
func FromBytes(s Scenario, data []byte) error {
	return runOne(s, bytesChooser(data))
}

func runOne(s Scenario, ch chooser) error {
	mu.Lock()
	defer mu.Unlock()
	defer install()()
	r := execute(s, ch, Options{}, DefaultMaxSteps, false)
	if r.violation == nil {
		return nil
	}
	return traced(s, r, Options{}, DefaultMaxSteps)
}

// dfs enumerates schedules depth first. stack holds the decisions of the
// current run: the candidates and the index chosen. Its entries and their
// slices are reused from run to run.
type dfs struct {
	stack []node
}

type node struct {
	cands []int
	idx   int
}

func (d *dfs) choose(depth int, cands []int) (int, error) {
	if depth < len(d.stack) {
		n := &d.stack[depth]
		if !slices.Equal(n.cands, cands) {
			return 0, fmt.Errorf("%w: decision %d offers threads %v, recorded %v", ErrNondeterministic, depth, cands, n.cands)
		}
		return n.idx, nil
	}
	if len(d.stack) < cap(d.stack) {
		d.stack = d.stack[:len(d.stack)+1]
	} else {
		d.stack = append(d.stack, node{})
	}
	n := &d.stack[len(d.stack)-1]
	n.cands = append(n.cands[:0], cands...)
	n.idx = 0
	return 0, nil
}

// next moves to the next schedule: the deepest decision with an untried
// alternative takes it, and the decisions below it are forgotten.
func (d *dfs) next() bool {
	for len(d.stack) > 0 {
		n := &d.stack[len(d.stack)-1]
		if n.idx+1 < len(n.cands) {
			n.idx++
			return true
		}
		d.stack = d.stack[:len(d.stack)-1]
	}
	return false
}

type replay struct{ sched Schedule }

var errDiverged = errors.New("explore: schedule does not fit the scenario")

func (p *replay) choose(depth int, cands []int) (int, error) {
	if depth >= len(p.sched) {
		return 0, nil
	}
	if i := slices.Index(cands, p.sched[depth]); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("%w: step %d wants thread %d, enabled %v", errDiverged, depth, p.sched[depth], cands)
}

type bytesChooser []byte

func (b bytesChooser) choose(depth int, cands []int) (int, error) {
	if depth >= len(b) {
		return 0, nil
	}
	return int(b[depth]) % len(cands), nil
}

// traceBefore records the start of the step that thread t is about to run.
func (r *Run) traceBefore(t *thread) {
	st := Step{Thread: t.name, Op: "wait"}
	if t.status == timed && t.expired {
		st.Op = "timeout"
	}
	if t.status == ready {
		st.Op = t.op.String()
		switch t.op {
		case opFutexWait:
			st.Op = "futex-wait"
		case opWoken:
			st.Op = "woken"
		}
		st.Word = r.wordName(t.addr)
		st.Before = r.show(t.addr)
	}
	r.trace = append(r.trace, st)
	r.lastAddr = t.addr
	if t.status != ready {
		r.lastAddr = nil
	}
}

// traceAfter completes the last step with its word's value now.
func (r *Run) traceAfter() {
	if len(r.trace) == 0 || r.lastAddr == nil {
		return
	}
	r.trace[len(r.trace)-1].After = r.show(r.lastAddr)
	r.lastAddr = nil
}

func (r *Run) wordName(a atomicx.Word) string {
	key := uintptrOf(a)
	if n, ok := r.names[key]; ok {
		return n.name
	}
	if r.names == nil {
		r.names = make(map[uintptr]wordName)
	}
	r.unnamed++
	n := wordName{name: fmt.Sprintf("word#%d", r.unnamed), auto: true}
	r.names[key] = n
	return n.name
}

func (r *Run) show(a atomicx.Word) string {
	v := a.Peek()
	if n := r.names[uintptrOf(a)]; n.show != nil {
		return n.show(v)
	}
	return fmt.Sprintf("%#x", v)
}
