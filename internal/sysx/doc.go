// Package sysx is ctdefer's one door to the operating system: the only
// package in the module that imports golang.org/x/sys/unix. Everything else
// calls the thin, typed wrappers here, so the set of system calls ctdefer
// makes can be read in one directory.
//
// It provides:
//
//   - [CPUSet], a set of CPU numbers of any size (not capped at 1024 like
//     unix.CPUSet). Portable. (The kernel's list syntax, "0-3,8,10-11", is
//     package host's: ParseCPUList and FormatCPUList.)
//   - CPU affinity: [ProcessAffinity], [ThreadAffinity], [SetThreadAffinity],
//     and [CurrentCPU] and [Gettid] to see where the calling thread runs.
//   - A private futex on a 32-bit word: [FutexWait] and [FutexWake], with
//     which a pinned worker parks its own OS thread.
//   - [Membarrier], the raw membarrier(2) system call.
//
// # Threads, not goroutines
//
// ThreadAffinity, SetThreadAffinity, CurrentCPU and Gettid act on the OS
// thread that happens to run the calling goroutine. Unless the goroutine has
// called [runtime.LockOSThread], the Go scheduler may move it to another
// thread at any instant, and the answer describes a thread the goroutine no
// longer runs on (and a mask set with SetThreadAffinity stays on a thread
// that then runs other goroutines). ctdefer's per-CPU workers lock their
// thread first; tests here do the same.
//
// # Portability
//
// The real code lives in *_linux.go files. On other systems every function
// that needs the kernel returns an error wrapping [ErrNotSupported]
// (sysx_other.go); CPUSet and the membarrier constants build everywhere.
package sysx
