// Package explore is an exhaustive interleaving explorer for ctdefer's
// lock-free code: a stateless model checker in the style of Rust's loom and
// Microsoft's CHESS, run over the real code, not over a model of it.
//
// Everything in this package except this file is built only under the
// ctdefer_explore build tag, which also turns on the Yield hook of
// internal/atomicx. Run its tests with
//
//	go test -tags ctdefer_explore -v ./internal/explore/
//
// # How an exploration works
//
//  1. A [Scenario] builds fresh state and a fixed set of threads (plain Go
//     functions) plus final checks. [Explore] runs it once per schedule.
//
//  2. Each thread runs in its own goroutine, but only one runs at a time.
//     The atomicx.Yield hook, installed for the duration of the exploration,
//     stops the calling thread just before each of its atomic operations and
//     hands control to the scheduler, which picks the thread that runs next:
//     it performs its pending operation and runs on to its next stop or its
//     end. A thread's code before its first atomic operation runs at start,
//     threads in the order they were declared.
//
//  3. The scheduler records, at each decision, the enabled threads and its
//     choice; after a run it backtracks to the deepest decision with an
//     untried alternative (depth-first search), until none is left.
//
//  4. A check that fails inside a thread ([Run.Fail], [Run.Assert]), a
//     panicking thread, a deadlock (threads left, none enabled) or a run
//     longer than [Options.MaxSteps] (a livelock) stops the exploration with
//     a [Violation]: the error, the schedule, and a step-by-step trace with
//     the value of each touched word before and after the step. [Replay]
//     re-runs one schedule deterministically.
//
// Go atomics are sequentially consistent (the Go memory model's DRF-SC
// guarantee), so for code whose threads share memory only through atomicx,
// the runs at atomic-operation granularity are exactly the executions the
// hardware can produce: there is no weak-memory behaviour to model.
//
// The explorer is therefore exact for code that shares memory only through
// atomicx: a word read or written with sync/atomic or go.uber.org/atomic
// would be invisible to it, and the interleavings around it never tried. The
// import rule test (TestOnlyAtomicxImportsAtomics, in the module root's
// imports_test.go) enforces it for ctseq, the root package, grace and
// lazytlb, and for every other non-test file of the module: none outside
// internal/atomicx imports sync/atomic or go.uber.org/atomic, under any
// build tag.
//
// # Rules for scenarios
//
//   - Threads share memory only through atomicx words, plus plain Go
//     variables used for bookkeeping and checks. Plain variables are safe to
//     share: execution is serialised by the scheduler (every handoff is a
//     channel operation, a happens-before edge), and the code between two
//     stops runs as one step, atomically with the operation that began it.
//   - Threads block on nothing but atomicx operations. A thread that would
//     spin until some condition holds calls [Wait] instead; it is disabled
//     until the condition is true, which avoids infinite schedules.
//     Library code does the same through atomicx.Await (percpu.Waiter
//     calls it), and a futex sleep is modelled by atomicx.Futex.
//   - Time is not read. A wait that a deadline or a timeout can end
//     (atomicx.AwaitTimed) ends only when its condition holds, unless the
//     exploration sets [Options.Timeouts]: then time passing is the
//     explorer's choice. The waiting thread is enabled at every step; if it
//     is picked while its condition does not hold, its time has run out and
//     the wait returns its timeout error. Every point at which a timeout
//     could fire is tried, and the slow paths that only expired waits reach
//     (diagnostics, the reclaim of an exited owner's CPU) run against every
//     interleaving of the other threads.
//   - Threads and checks must be deterministic: the same choices must give
//     the same run (the explorer detects divergence and reports it).
//   - No other goroutine may use atomicx words during an exploration, and
//     explorations must not run in parallel: the hook is a global variable.
//     [Explore], [Replay] and [FromBytes] take a package mutex, so parallel
//     tests are serialised rather than corrupted.
//   - Threads report failures with [Run.Fail], never with testing.T's
//     FailNow (which may be called only from the test goroutine).
package explore
