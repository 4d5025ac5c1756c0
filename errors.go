package ctdefer

import (
	"errors"
	"fmt"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Sentinel errors. Functions wrap them with the offending value (the CPU
// number, the work's name, the errno), so test with errors.Is.
var (
	// ErrNotSupported: the feature needs Linux, or a kernel that has it.
	// Off Linux, New (unless Options.Unpinned) and Isolate return errors
	// wrapping it. It is one value across the module, so a single
	// errors.Is(err, ctdefer.ErrNotSupported) tells a missing platform
	// feature from a failure. Its text is "not supported on this
	// platform", after the wrapping error's "ctdefer: ..." prefix.
	ErrNotSupported = sysx.ErrNotSupported

	// ErrClosed: the Domain has been closed; no new work is accepted.
	ErrClosed = errors.New("ctdefer: domain closed")

	// ErrBadCPU: a CPU number that is not one of the Domain's (negative,
	// above MaxCPU, or just not listed), or a bad CPU list for New: empty,
	// or with a number out of range or listed twice. The wrapping error
	// says which, and names the CPU.
	ErrBadCPU = errors.New("ctdefer: bad CPU")

	// ErrCPUNotAllowed: the CPU is outside the process's allowed set (the
	// affinity the process started with, see Options.CPUs), or the kernel
	// refused to pin a thread to it (a cgroup cpuset change, hotplug).
	ErrCPUNotAllowed = errors.New("ctdefer: CPU not in the process's allowed set")

	// ErrCPUBusy: the CPU is already claimed by another worker.
	ErrCPUBusy = errors.New("ctdefer: CPU already claimed")

	// ErrAlreadyOwner: Claim was called by a goroutine that already owns a
	// CPU (of this or another Domain). Claiming a second CPU would re-pin
	// the thread and break the first. Detected on Linux, where threads have
	// IDs.
	ErrAlreadyOwner = errors.New("ctdefer: the calling goroutine already owns a CPU")

	// ErrOwnerGone: the goroutine that claimed a CPU exited (its thread
	// ended) without calling Release. The runtime detects it on its slow
	// paths (a DeferWait that waits too long, Close, a Claim of that CPU),
	// takes the CPU back and hands back the work that was pending on it:
	// errors wrapping ErrOwnerGone name the CPU and the thread.
	ErrOwnerGone = errors.New("ctdefer: CPU owner exited without Release")

	// ErrWouldDeadlock: a call would wait for the calling goroutine itself,
	// such as Close called by a CPU's owner or from a handler running on
	// it. It returns at once instead of hanging.
	ErrWouldDeadlock = errors.New("ctdefer: call would wait for the calling goroutine")

	// ErrBadName: Register was given an empty name, or the name of a work
	// already registered: names identify work in errors and statistics.
	ErrBadName = errors.New("ctdefer: empty or duplicate work name")

	// ErrNilOption: a nil RegisterOption or ClaimOption was passed.
	ErrNilOption = errors.New("ctdefer: nil option")

	// ErrAffinity: sched_setaffinity failed for a reason other than the CPU
	// not being allowed; the errno is wrapped too.
	ErrAffinity = errors.New("ctdefer: setting thread affinity failed")

	// ErrTooManyWorks: more work kinds registered than the context-tracking
	// word has bits (ctseq.WorkBits).
	ErrTooManyWorks = errors.New("ctdefer: too many registered works")

	// ErrNilHandler: Register was given a nil handler, or Go a nil loop.
	ErrNilHandler = errors.New("ctdefer: nil handler")

	// ErrUnregistered: the Work was not returned by this Domain's Register
	// (the zero Work, or one from another Domain).
	ErrUnregistered = errors.New("ctdefer: work not registered in this domain")

	// ErrRegistrationClosed: Register was called after the first Claim; the
	// per-CPU handler tables are fixed from then on.
	ErrRegistrationClosed = errors.New("ctdefer: registration closed after first Claim")

	// ErrIPITimeout: a synchronous delivery did not complete in time; the
	// error names the CPU and what it was doing.
	ErrIPITimeout = errors.New("ctdefer: IPI timed out")

	// ErrWrongThread: an owner method was called from a thread other than
	// the one that claimed the CPU (detected with Options.Debug). It is
	// carried by the *MisuseError that such a call panics with.
	ErrWrongThread = errors.New("ctdefer: owner method called from the wrong thread")

	// ErrWrongCPU: in debug mode, the owner thread was found running on a
	// CPU other than the one it is pinned to.
	ErrWrongCPU = errors.New("ctdefer: owner thread running on the wrong CPU")

	// ErrDangerZone: in debug mode, state guarded by a work bit was touched
	// on a CPU between its kernel entry and the drain of that bit.
	ErrDangerZone = errors.New("ctdefer: guarded state touched in the danger zone")

	// ErrNoHeadroom: with Options.RequireHeadroom, a Claim would bring the
	// CPUs claimed in the process to runtime.GOMAXPROCS(0), leaving no P
	// for the goroutines that are not workers. The error gives both
	// numbers.
	ErrNoHeadroom = errors.New("ctdefer: no GOMAXPROCS headroom left for non-worker goroutines")
)

// MisuseError is the value owner methods panic with when debug checks find a
// programming error. It wraps ErrWrongThread, ErrWrongCPU or ErrDangerZone.
type MisuseError struct {
	Method string // "CPU.KernelEnter", "Work.AssertFlushed", ...
	CPU    int
	Err    error  // the sentinel
	Detail string // thread ids, the bit, the caller
}

// Error describes the misuse.
func (e *MisuseError) Error() string {
	return fmt.Sprintf("ctdefer: %s on CPU %d: %v: %s", e.Method, e.CPU, e.Err, e.Detail)
}

// Unwrap returns the sentinel (ErrWrongThread, ErrWrongCPU, ErrDangerZone).
func (e *MisuseError) Unwrap() error { return e.Err }

// ErrInvalid: a call was given an argument it cannot use (a nil handler or
// option, an empty or duplicate name, a value out of range, a Work of
// another Domain, a registration after the first Claim). The error is an
// *ArgError that names the call, the argument and the reason; sibling
// packages (grace, lazytlb, host) return the same type.
var ErrInvalid = errors.New("invalid argument")

// ArgError describes an argument a call cannot use. It wraps ErrInvalid, and
// Err as well when set (ErrBadCPU for a CPU number, for example).
type ArgError struct {
	Call   string // the package-qualified call: "ctdefer.Domain.Register", "grace.NewQSBR", ...
	Arg    string // the argument: "name", "handler", "opts.Policy", ...
	Value  any    // the offending value, or nil when it says nothing (a nil func)
	Reason string // why it cannot be used: "empty", "already registered", ...
	Err    error  // a further sentinel it wraps, or nil
}

// Error names the call, the argument, the value and the reason.
func (e *ArgError) Error() string {
	v := ""
	if e.Value != nil {
		v = fmt.Sprintf(" %v", e.Value)
	}
	return fmt.Sprintf("%s: %s%s: %s: %v", e.Call, e.Arg, v, e.Reason, ErrInvalid)
}

// Unwrap returns ErrInvalid, and Err when set.
func (e *ArgError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}
