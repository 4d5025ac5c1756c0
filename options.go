package ctdefer

import "time"

// Options configures a Domain. The zero value is the documented default for
// every field.
type Options struct {
	// CPUs lists the CPUs of the domain. Nil means every CPU in the process's
	// allowed set, not runtime.NumCPU. The allowed set is the affinity the
	// process started with: sched_getaffinity of its main thread, read once
	// while package ctdefer is initialised (before main), so it reflects
	// taskset, the cgroup cpuset and the parent's mask as inherited at
	// start-up. Later changes to the process's mask (taskset -p, a cgroup
	// change, Isolate, a worker's pin of the main thread) do not change it;
	// New refuses a CPU outside it with ErrCPUNotAllowed, and Claim refuses
	// one the kernel no longer allows (a cgroup cpuset change, hotplug) the
	// same way. On other operating systems, and with Unpinned, nil means
	// 0 .. runtime.NumCPU()-1.
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
	// compare-and-swap.
	Trace bool
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
// discussed in seed 001). Senders then set no bit (their CAS only publishes
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
