// Package host sets up the machine for ctdefer's pinned workers. It sits
// below the core: it knows thread ids and CPU numbers, never a
// ctdefer.Domain or a ctdefer.CPU, and the root package calls it.
//
//   - [AllowedCPUs]: the CPUs the process may use, as it started.
//   - [Isolate]: move the process's threads off CPUs kept for workers.
//   - [PinThread]: pin the calling (locked) thread to one CPU.
//   - [CheckHeadroom]: do the pinned workers leave a P for the rest?
//   - [ParseCPUList] and [FormatCPUList]: the kernel's CPU list format.
//   - [ReadThreadSwitches]: a thread's voluntary and involuntary context
//     switches, to count how often a pinned worker left its CPU.
//
// Pinning, isolation, the allowed set and the thread counters need Linux: elsewhere their errors
// wrap ctdefer.ErrNotSupported. Errors for CPUs outside the allowed set
// wrap [ErrNotAllowed]; a failed affinity call wraps the errno. A bad
// argument (a negative CPU number, one above 65535) is a plain error that
// names the call and the value.
package host
