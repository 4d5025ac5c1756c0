package ctdefer

import (
	"log/slog"
	"time"
)

// Options configures a Domain. The zero value is the documented default for
// every field.
type Options struct {
	// CPUs lists the CPUs of the domain. Nil means every CPU in the process's
	// allowed set (host.AllowedCPUs), not runtime.NumCPU. The allowed set is
	// the affinity the process started with: sched_getaffinity of its main
	// thread, read once while package host is initialised (before main), so
	// it reflects taskset, the cgroup cpuset and the parent's mask as
	// inherited at start-up. Later changes to the process's mask (taskset -p,
	// a cgroup change, host.Isolate, a worker's pin of the main thread) do
	// not change it; New refuses a CPU outside it with host.ErrNotAllowed,
	// and Claim refuses one the kernel no longer allows (a cgroup cpuset
	// change, hotplug) the same way. On other operating systems, and with
	// Unpinned, nil means 0 .. runtime.NumCPU()-1.
	CPUs []int

	// Unpinned skips sched_setaffinity in Claim: workers are still locked to
	// their OS threads, but the kernel may run them anywhere. It is meant for
	// tests and for platforms without affinity (everything except Linux),
	// where Claim otherwise fails with ErrNotSupported.
	Unpinned bool

	// IPITimeout bounds DeferWait when its context has no deadline.
	// Zero means one second.
	IPITimeout time.Duration

	// SpinWait is how long a DeferWait caller spins (yielding the processor)
	// before it starts sleeping between checks, HotSpot's spin-then-sleep
	// policy. Zero means 50µs; negative means never spin.
	SpinWait time.Duration

	// Debug turns on owner-thread checks on every owner call (a call from
	// another thread panics with a *MisuseError naming the method and both
	// thread ids), placement checks at every kernel entry (the thread really
	// runs on its CPU) and the danger-zone guard (Work.AssertFlushed).
	// It costs a system call per owner call: keep it for tests.
	Debug bool

	// Trace emits runtime/trace log events for IPIs sent and handled and for
	// drains, when a trace is being recorded (go test -trace, or
	// runtime/trace.Start). Deferral itself is never traced: it is a single
	// compare-and-swap. Whatever this option, while a trace is being
	// recorded the blocking calls are runtime/trace tasks, with a region for
	// each phase, so that go tool trace shows where their time went:
	// "ctdefer.DeferWait", "ctdefer.Send", "ctdefer.IPI",
	// "ctdefer.DeferWaitAll" (a region "ctdefer.<method>: wait" while it
	// waits) and "ctdefer.Close" ("ctdefer.Close: wait for workers",
	// "ctdefer.Close: close mailboxes"). When no trace is being recorded
	// they cost one check.
	Trace bool

	// Logger receives the events an operator needs (nil: none are
	// logged): a wait whose work has not run after IPITimeout, and a wait
	// that fails (Warn; a canceled context: Debug), with the CPU, its
	// state and its transitions during the wait; an exited owner whose CPU
	// was taken back (Warn, with the work handed back); a Claim that left
	// no GOMAXPROCS headroom (Warn); a misuse found by the Debug checks
	// (Error, before the panic); a Close still waiting for workers after
	// IPITimeout (Warn), and one that handed work back or recovered a
	// handler's panic (Warn, Error); a Go loop that ended by a panic or
	// runtime.Goexit (Error). Every record's message starts with
	// "ctdefer: " and its attributes name the CPU ("cpu") and, where there
	// is one, the work ("work"). Only slow paths log: with a nil Logger
	// the cost is a nil check on them.
	Logger *slog.Logger

	// RequireHeadroom makes Claim (and Go) fail with host.ErrNoHeadroom instead
	// of only warning when the claim would leave no GOMAXPROCS headroom:
	// when the CPUs claimed in the process, across every Domain, this one
	// included, would reach runtime.GOMAXPROCS(0). Each pinned worker that
	// spins holds a P, so with as many workers as Ps every other goroutine
	// (the controller that sends the work, timers, the garbage collector's
	// helpers) waits for a worker to block. Without it, such a claim
	// succeeds, is counted in Stats.NoHeadroom and logged.
	RequireHeadroom bool
}

const (
	defaultIPITimeout = time.Second
	defaultSpinWait   = 50 * time.Microsecond
)

// RegisterOption modifies one registered work kind.
type RegisterOption func(*workInfo)

// RemoteSafe declares that the handler may run on a goroutine other than the
// target CPU's owner while the owner is parked in Idle: a sender that finds
// the target parked then runs the work itself, on the target's behalf, instead
// of waking it (HotSpot's handshake rule). The owner cannot leave Idle until
// such a run has finished, so the handler sees the CPU's state as the owner
// left it, and for the run the CPU's word shows a kernel stretch (IdleExit
// before, IdleEnter after), so that grace periods and barriers wait for the
// handler as they would for the owner. Use it for work that only touches
// memory, never the thread.
func RemoteSafe() RegisterOption {
	return func(w *workInfo) { w.remoteSafe = true }
}

// ClaimOption modifies one claimed CPU.
type ClaimOption func(*claimConfig)

type claimConfig struct {
	policy uint32
}

// Delivery policies of a claimed CPU (slot.policy).
const (
	policyTracked      uint32 = iota // deferral through work bits (default)
	policyFlushOnEntry               // FlushOnEntry
	policyAlwaysIPI                  // AlwaysIPI
)

// FlushOnEntry makes the CPU run every registered work at each kernel entry,
// unconditionally, instead of tracking which are pending (the alternative
// Dave Hansen proposed in the LKML thread "context_tracking,x86: Defer some
// IPIs until a user->kernel transition", May 2025). Senders then set no bit (their CAS only publishes
// their writes), and entries need no bookkeeping of which work is pending, at
// the price of running every handler on every entry. The bench package
// measures the crossover.
func FlushOnEntry() ClaimOption {
	return func(c *claimConfig) { c.policy = policyFlushOnEntry }
}

// AlwaysIPI makes every delivery to the CPU an IPI, even while it is in user
// mode, as if deferral did not exist. It is the baseline that examples and
// benchmarks compare deferral against; a runtime has no other reason to use
// it.
func AlwaysIPI() ClaimOption {
	return func(c *claimConfig) { c.policy = policyAlwaysIPI }
}
