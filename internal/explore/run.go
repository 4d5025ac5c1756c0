//go:build ctdefer_explore

package explore

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Run is one execution of a scenario. Setup declares the threads and checks
// on it; threads use it to fail the run. Its methods are for the goroutine
// that is running: Setup, the thread currently scheduled, or a check.
type Run struct {
	threads []*thread
	checks  []func() error
	names   map[uintptr]wordName
	unnamed int // words named in traces by order of first use

	// Scheduling state. Only the goroutine that currently runs (the
	// driver in Explore, or the scheduled thread) touches it; every
	// handoff is a channel operation, so accesses are ordered.
	cur         *thread       // the scheduled thread; nil in Setup and checks
	starting    bool          // threads are being started one by one
	parked      chan struct{} // start phase: the started thread stopped or ended
	silent      int           // > 0: atomics are not scheduling points (see Atomically)
	aborted     bool          // the run is being torn down
	violation   error
	choose      chooser
	bound       int  // preemption bound; 0 for none
	timeouts    bool // timed waits can expire (Options.Timeouts)
	preemptions int
	maxSteps    int
	sched       Schedule
	cands       []int
	tracing     bool
	trace       []Step
	lastAddr    atomicx.Word // tracing: the word of the step in progress
	wg          sync.WaitGroup
}

type wordName struct {
	name string
	show func(uint64) string
	auto bool // named by order of first use, not by Run.Name
}

type status uint8

const (
	ready    status = iota // stopped before an atomic operation
	waiting                // stopped in Wait until cond holds
	timed                  // in a timed wait: runnable at any step (Options.Timeouts)
	sleeping               // asleep on a futex until a Wake of it runs
	running
	done
)

type thread struct {
	id      int
	name    string
	fn      func()
	status  status
	op      atomicx.Op
	addr    atomicx.Word
	cond    func() bool
	expired bool           // a timed wait ended with its condition false
	futex   *atomicx.Futex // sleeping: the futex slept on
	fval    uint32         // sleeping: the value it held
	wake    chan struct{}  // buffered(1): the scheduler's go-ahead
}

// chooser picks among the enabled threads at decision number depth.
// cands lists thread ids, the thread that was running first (if enabled).
type chooser interface {
	choose(depth int, cands []int) (int, error)
}

// active is the run the Yield hook serves. Set by the driver before any
// thread starts and cleared after all have exited.
var active *Run

// mu serialises explorations: atomicx.Yield and active are global.
var mu sync.Mutex

func hook(op atomicx.Op, addr atomicx.Word) {
	r := active
	if r == nil || r.cur == nil || r.silent > 0 {
		return // Setup, checks, Atomically: not a scheduling point
	}
	if r.aborted {
		runtime.Goexit() // a deferred call of a thread being torn down
	}
	t := r.cur
	t.op, t.addr = op, addr
	t.status = ready
	r.pause(t)
	if op == atomicx.OpWake {
		// The wake runs now, atomically with this step: every thread
		// asleep on the word may run again.
		for _, s := range r.threads {
			if s.status == sleeping && atomicx.Word(s.futex) == addr {
				s.status = ready
				s.op, s.addr = opWoken, addr
			}
		}
	}
}

// block is the explorer's futex sleep (atomicx.Block), modelled on
// futex(2): one scheduling point at which the word is compared with val
// (the system call's atomic check); if it still holds val the thread
// sleeps, and only a Wake of the word (not a mere change of its value, as
// in the kernel) makes it runnable again. Spurious wake-ups are not
// modelled: callers must tolerate them, but need not be shown them.
func block(f *atomicx.Futex, val uint32) bool {
	r := active
	if r == nil || r.cur == nil || r.silent > 0 {
		return false
	}
	if r.aborted {
		runtime.Goexit()
	}
	t := r.cur
	t.op, t.addr = opFutexWait, f
	t.status = ready
	r.pause(t) // the compare happens when the thread is scheduled
	if uint32(f.Peek()) != val {
		return true // EAGAIN: the word changed before the sleep began
	}
	t.status, t.futex, t.fval = sleeping, f, val
	r.pause(t)
	t.futex = nil
	return true
}

// Trace labels of the futex steps: a sleep's compare, and the return of a
// sleeper a Wake made runnable.
const (
	opFutexWait = atomicx.Op(255)
	opWoken     = atomicx.Op(254)
)

// await is atomicx.AwaitHook: a thread's wait for a condition becomes Wait,
// or, for a timed wait in an exploration with Options.Timeouts, a step the
// scheduler may pick at any time: the wait ends then, expired if its
// condition does not hold at that step.
func await(cond func() bool, isTimed bool) (handled, expired bool) {
	r := active
	if r == nil || r.cur == nil || r.silent > 0 {
		return false, false
	}
	if !isTimed || !r.timeouts {
		Wait(cond)
		return true, false
	}
	if r.eval(cond) {
		return true, false
	}
	t := r.cur
	t.status, t.cond, t.addr = timed, cond, nil
	r.pause(t)
	t.cond = nil
	return true, t.expired
}

// inThread reports whether the caller is the running thread of an
// exploration (atomicx.InThread: such a thread takes locks by waiting).
func inThread() bool {
	r := active
	return r != nil && r.cur != nil && r.silent == 0
}

// install sets the atomicx hooks for an exploration and returns a function
// that removes them.
func install() (uninstall func()) {
	atomicx.Yield, atomicx.Block, atomicx.AwaitHook, atomicx.InThread = hook, block, await, inThread
	return func() { atomicx.Yield, atomicx.Block, atomicx.AwaitHook, atomicx.InThread = nil, nil, nil, nil }
}

// Go declares a thread. Call it from Setup only.
func (r *Run) Go(name string, fn func()) {
	if r.cur != nil || r.parked != nil {
		panic("explore: Run.Go outside Setup")
	}
	r.threads = append(r.threads, &thread{id: len(r.threads), name: name, fn: fn, wake: make(chan struct{}, 1)})
}

// Check declares a final check, run after every thread has ended, in the
// order declared. Checks may use atomicx words freely (they are not
// scheduling points). Call it from Setup only.
func (r *Run) Check(fn func() error) {
	r.checks = append(r.checks, fn)
}

// Name labels a word in traces. ptr points to an atomicx.Uint64, or to a
// struct whose first field is one (as a ctseq.Word: its zero-size noCopy
// field takes no room); show, if not nil, formats its values.
func (r *Run) Name(ptr any, name string, show func(uint64) string) {
	if r.names == nil {
		r.names = make(map[uintptr]wordName)
	}
	r.names[reflect.ValueOf(ptr).Pointer()] = wordName{name: name, show: show}
}

func uintptrOf(a atomicx.Word) uintptr { return reflect.ValueOf(a).Pointer() }

// Fail stops the run with err as its violation. Call it from a thread only
// (a check returns its error instead); it does not return.
func (r *Run) Fail(err error) {
	if r.cur == nil {
		panic("explore: Run.Fail outside a thread; a check returns its error")
	}
	r.abort(err)
	runtime.Goexit()
}

// Assert calls Fail with a formatted error if cond is false.
func (r *Run) Assert(cond bool, format string, args ...any) {
	if !cond {
		r.Fail(fmt.Errorf(format, args...))
	}
}

// Wait disables the calling thread until cond reports true: the explorer's
// replacement for a spin-wait, which would give infinite schedules. cond is
// evaluated by the scheduler at each decision, atomically (atomics inside it
// are not scheduling points); it must not change any state. If cond is true
// already, Wait returns at once, without a scheduling point.
func Wait(cond func() bool) {
	r := active
	if r == nil || r.cur == nil {
		panic("explore: Wait outside a thread of an exploration")
	}
	if r.eval(cond) {
		return
	}
	t := r.cur
	t.status, t.cond, t.addr = waiting, cond, nil
	r.pause(t)
	t.cond = nil
}

// Atomically runs fn as part of the current step: atomic operations inside
// it are not scheduling points. Checks use it to peek at shared words
// without adding interleavings; it is sound for that purpose because no
// other thread can run during fn. Outside an exploration it just calls fn.
func Atomically(fn func()) {
	r := active
	if r == nil {
		fn()
		return
	}
	r.silent++
	defer func() { r.silent-- }()
	fn()
}

func (r *Run) eval(cond func() bool) bool {
	r.silent++
	defer func() { r.silent-- }()
	return cond()
}

// pause stops the current thread t (its status already set) and gives
// control to the next thread; it returns when t is scheduled again.
//
// After the handoff (the send on a wake channel, or on parked) another
// goroutine runs: t must not touch the run's state again until its own wake
// channel is received from.
func (r *Run) pause(t *thread) {
	if r.starting {
		r.parked <- struct{}{}
	} else {
		next := r.decide(t)
		if next == t {
			t.status = running
			return
		}
		if next == nil {
			// t has not ended, so decide aborted the run (deadlock,
			// livelock, chooser error) and woke every other thread.
			runtime.Goexit()
		}
		r.cur = next
		next.wake <- struct{}{}
	}
	<-t.wake
	if r.aborted {
		runtime.Goexit()
	}
	t.status = running
}

// threadMain is the body of thread t's goroutine.
func (r *Run) threadMain(t *thread) {
	defer r.wg.Done()
	if r.aborted {
		return // a thread started after an abort in the start phase
	}
	<-t.wake
	returned := false
	defer func() {
		if returned {
			return
		}
		p := recover()
		switch {
		case p != nil:
			r.abort(&PanicError{Thread: t.name, Value: p, Stack: debug.Stack()})
		case !r.aborted:
			r.abort(fmt.Errorf("explore: thread %s called runtime.Goexit (use Run.Fail)", t.name))
		}
	}()
	t.status = running
	t.fn()
	returned = true
	t.status = done
	if r.starting {
		r.parked <- struct{}{}
		return
	}
	if next := r.decide(t); next != nil {
		r.cur = next
		next.wake <- struct{}{}
	}
}

// decide picks the thread to run next, after thread from (nil at the first
// decision) stopped or ended. It returns nil if every thread has ended, or
// after aborting the run (deadlock, livelock, chooser error).
func (r *Run) decide(from *thread) *thread {
	if r.tracing {
		r.traceAfter()
	}
	r.cands = r.cands[:0]
	fromEnabled := from != nil && r.enabled(from)
	if fromEnabled {
		r.cands = append(r.cands, from.id)
	}
	left := false
	for _, t := range r.threads {
		if t.status != done {
			left = true
		}
		if t != from && r.enabled(t) {
			r.cands = append(r.cands, t.id)
		}
	}
	if len(r.cands) == 0 {
		if left {
			r.abort(r.deadlock())
		}
		return nil
	}
	if len(r.sched) >= r.maxSteps {
		r.abort(fmt.Errorf("%w: no end after %d steps", ErrLivelock, r.maxSteps))
		return nil
	}
	if r.bound > 0 && fromEnabled && r.preemptions >= r.bound {
		r.cands = r.cands[:1] // out of preemptions: from continues
	}
	i, err := r.choose.choose(len(r.sched), r.cands)
	if err != nil {
		r.abort(err)
		return nil
	}
	next := r.threads[r.cands[i]]
	if next.status == timed {
		// The wait ends at this step: with its condition, or with its
		// time run out if the condition does not hold now.
		next.expired = !r.eval(next.cond)
	}
	if fromEnabled && next != from {
		r.preemptions++
	}
	r.sched = append(r.sched, next.id)
	if r.tracing {
		r.traceBefore(next)
	}
	return next
}

func (r *Run) enabled(t *thread) bool {
	switch t.status {
	case ready, timed:
		return true
	case waiting:
		return r.eval(t.cond)
	}
	return false
}

func (r *Run) deadlock() error {
	var s, sleepers []string
	for _, t := range r.threads {
		switch t.status {
		case waiting:
			s = append(s, t.name)
		case sleeping:
			// Only explicit names: automatic ones depend on tracing, and
			// the message must be the same when the schedule is replayed.
			word := "a futex"
			if n, ok := r.names[uintptrOf(t.futex)]; ok && !n.auto {
				word = n.name
			}
			sleepers = append(sleepers, fmt.Sprintf("%s on %s (value %#x)", t.name, word, t.fval))
		}
	}
	if len(sleepers) > 0 {
		return fmt.Errorf("%w: lost wake-up: %v asleep on a futex with no wake to come; waiting: %v",
			ErrDeadlock, sleepers, s)
	}
	return fmt.Errorf("%w: threads %v wait, none can run", ErrDeadlock, s)
}

// abort records err (the first one wins) and wakes every stopped thread so
// that it exits. The caller then exits too.
func (r *Run) abort(err error) {
	if r.violation == nil {
		r.violation = err
	}
	if r.aborted {
		return
	}
	r.aborted = true
	for _, t := range r.threads {
		if t != r.cur && (t.status == ready || t.status == waiting || t.status == timed || t.status == sleeping) {
			t.wake <- struct{}{}
		}
	}
	if r.starting {
		r.parked <- struct{}{}
	}
}

// Errors a run can end with besides the scenario's own.
var (
	// ErrDeadlock: threads are left but every one waits in Wait or sleeps
	// on a futex that no thread will wake (a lost wake-up).
	ErrDeadlock = errors.New("explore: deadlock")
	// ErrLivelock: a run exceeded Options.MaxSteps.
	ErrLivelock = errors.New("explore: livelock")
	// ErrNondeterministic: replaying a prefix gave different choices.
	ErrNondeterministic = errors.New("explore: scenario is not deterministic")
)

// PanicError is the violation of a run in which a thread panicked.
type PanicError struct {
	Thread string
	Value  any
	Stack  []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("thread %s panicked: %v", p.Thread, p.Value)
}

// Unwrap returns the panic value if it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// execute performs one run of s with the given chooser and returns it.
// The caller holds mu.
func execute(s Scenario, ch chooser, o Options, maxSteps int, tracing bool) *Run {
	r := &Run{choose: ch, bound: o.Preemptions, timeouts: o.Timeouts, maxSteps: maxSteps, tracing: tracing}
	s.Setup(r)
	r.parked = make(chan struct{})
	active = r
	defer func() { active = nil }()

	// Start phase: run each thread up to its first stop, in order.
	r.starting = true
	for _, t := range r.threads {
		r.cur = t
		r.wg.Add(1)
		go r.threadMain(t)
		t.wake <- struct{}{}
		<-r.parked
		if r.aborted {
			break
		}
	}
	r.starting = false
	r.cur = nil
	if !r.aborted {
		if next := r.decide(nil); next != nil {
			r.cur = next
			next.wake <- struct{}{}
		}
	}
	r.wg.Wait()
	r.cur = nil
	if r.tracing {
		r.traceAfter()
	}
	if r.violation == nil {
		for _, c := range r.checks {
			if err := c(); err != nil {
				r.violation = err
				break
			}
		}
	}
	return r
}
