package ctdefer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctdefer/ctdefer/host"

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

	// ErrCPUBusy: the CPU is already claimed by another worker, or the
	// calling goroutine already owns a CPU (of this or another Domain):
	// claiming a second would re-pin its thread and break the first
	// (detected on Linux, where threads have IDs). The wrapping error says
	// which, and names both CPUs.
	ErrCPUBusy = errors.New("ctdefer: CPU already claimed")

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

	// ErrFull: a Queue has no room on the CPU for the values sent; none
	// was enqueued. The wrapping error names the queue, the CPU and the
	// capacity: retry later, or drop.
	ErrFull = errors.New("ctdefer: queue full")

	// ErrIPITimeout: a synchronous delivery did not complete in time; the
	// error names the CPU and what it was doing.
	ErrIPITimeout = errors.New("ctdefer: IPI timed out")

	// ErrNotClaimed: a synchronous delivery (DeferWait, Send, IPI) went to
	// a CPU that no worker holds. The work is posted to the CPU's mailbox
	// all the same: it runs when a worker claims the CPU, or Close hands it
	// back. Without a deadline in the context the call returns it at once
	// rather than wait for a claim that may never come; with one, it waits
	// for a claim until the deadline and wraps both.
	ErrNotClaimed = errors.New("ctdefer: no worker has claimed the CPU")
)

// MisuseError is the value owner methods panic with when a check finds a
// programming error. Reason says which: "wrong thread" (an owner method
// called from a thread other than the owner's, with Options.Debug), "wrong
// CPU" (the pinned owner thread found running on another CPU, with Debug),
// or "danger zone" (Work.AssertFlushed: state touched between the kernel
// entry that claimed its work and that work's run, with Debug).
type MisuseError struct {
	Method string // "CPU.KernelEnter", "Work.AssertFlushed", ...
	CPU    int
	Reason string // "wrong thread", "wrong CPU" or "danger zone"
	Detail string // thread ids, the bit, the caller
}

// The Reasons of a MisuseError.
const (
	reasonWrongThread = "wrong thread"
	reasonWrongCPU    = "wrong CPU"
	reasonDangerZone  = "danger zone"
)

// Error describes the misuse.
func (e *MisuseError) Error() string {
	return fmt.Sprintf("ctdefer: %s on CPU %d: %s: %s", e.Method, e.CPU, e.Reason, e.Detail)
}

// ErrInvalid: a call was given an argument it cannot use (a CPU that is not
// one of the Domain's, a bad CPU list, a nil handler or option, an empty or
// duplicate name, a value out of range, a Work of another Domain, a
// registration after the first Claim). The error is an
// *ArgError that names the call, the argument and the reason; sibling
// packages (grace, lazytlb, host) return the same type.
var ErrInvalid = errors.New("invalid argument")

// ArgError describes an argument a call cannot use. It wraps ErrInvalid, and
// Err as well when set (host.ErrNotAllowed for a CPU outside the process's
// allowed set, for example).
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

// cpuListError is the *ArgError of call for a CPU list that
// percpu.NewIndex refused (it wraps ErrInvalid as its "bad" error), or
// whose check refused a CPU outside the allowed set.
func cpuListError(call, arg string, cpus []int, err error) error {
	e := &ArgError{Call: call, Arg: arg, Value: cpus, Reason: strings.TrimSuffix(err.Error(), ": "+ErrInvalid.Error())}
	if errors.Is(err, host.ErrNotAllowed) {
		e.Err = host.ErrNotAllowed
	}
	return e
}

// badCPU is the *ArgError of call for cpu, which is not one of list's.
func badCPU(call string, cpu int, list []int, what string) error {
	return &ArgError{Call: call, Arg: "cpu", Value: cpu, Reason: fmt.Sprintf("not one of the %s's CPUs %s", what, host.FormatCPUList(list))}
}
