package sysx

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's CPU mask as sched_getaffinity(2) and sched_setaffinity(2)
// see it (kernel/sched/syscalls.c):
//
//	unsigned long mask[len / sizeof(unsigned long)];  // CPU n is bit n % BITS_PER_LONG of mask[n / BITS_PER_LONG]
//
//	sched_getaffinity(pid, len, mask):
//		if len * 8 < nr_cpu_ids:            return -EINVAL
//		if len % sizeof(unsigned long) != 0: return -EINVAL
//		copy min(len, cpumask_size()) bytes to mask
//		return that number of bytes
//
//	sched_setaffinity(pid, len, mask):
//		if len < cpumask_size(): clear the kernel's copy, then copy len bytes
//		else:                    copy cpumask_size() bytes (higher CPUs are dropped)
//		new = copy & allowed-by-cpuset; if new is empty: return -EINVAL
//
// So a buffer big enough for any CPU must be found by growing it until
// sched_getaffinity stops failing with EINVAL, which is why unix.CPUSet
// (fixed at 1024 CPUs) is not used here.
//
// Layout. Go's unsigned long is uintptr (the same size as the kernel's long
// on every Linux port), so the buffer handed to the kernel is a []uintptr
// and its byte length, a whole number of uintptrs, is always a multiple of
// sizeof(unsigned long) as the kernel requires (4 on 386, 8 on amd64).
// CPUSet's []uint64 words are converted to and from it by toKernelMask and
// fromKernelMask. On little-endian machines the conversion is the identity
// on bytes: on 386, bit n of a little-endian uint64 is byte n/8, bit n%8,
// which is exactly where the kernel puts CPU n in an array of 32-bit longs
// (the low long first, its low byte first). Passing &words[0] directly would
// therefore work on 386 and amd64, but not on 32-bit big-endian ports such as
// linux/mips, where a uint64 stores its high 32 bits (CPUs 32-63) first while
// the kernel expects CPUs 0-31 first. The copy costs a few nanoseconds next
// to a system call of about a microsecond, and is correct everywhere.

const (
	// longBits is the width of the kernel's unsigned long: 32 or 64.
	longBits = 32 << (^uintptr(0) >> 63)
	// longSize is sizeof(unsigned long) in bytes.
	longSize = longBits / 8
	// initialMaskLongs is the first buffer size tried by getAffinity: 1024
	// CPUs, glibc's CPU_SETSIZE, enough for all but the largest machines.
	initialMaskLongs = 1024 / longBits
	// maxMaskLongs bounds the growth of that buffer: 2^20 CPUs, far beyond
	// any CONFIG_NR_CPUS (8192 on x86-64).
	maxMaskLongs = (1 << 20) / longBits
)

// toKernelMask returns s as an array of unsigned longs, at least one
// long, so that the buffer pointer is never nil. The result is built in
// small when it fits.
func toKernelMask(s CPUSet, small []uintptr) []uintptr {
	n := max(len(s.words)*(wordBits/longBits), 1)
	var mask []uintptr
	if n <= len(small) {
		mask = small[:n]
		clear(mask)
	} else {
		mask = make([]uintptr, n)
	}
	for i, w := range s.words {
		if longBits == 64 {
			mask[i] = uintptr(w)
		} else {
			mask[2*i] = uintptr(uint32(w))
			mask[2*i+1] = uintptr(uint32(w >> 32))
		}
	}
	return mask
}

// fromKernelMask converts an array of unsigned longs to a CPUSet.
func fromKernelMask(mask []uintptr) CPUSet {
	var s CPUSet
	per := wordBits / longBits // longs per word: 1 or 2
	s.words = make([]uint64, (len(mask)+per-1)/per)
	for i, l := range mask {
		s.words[i/per] |= uint64(l) << (uint(i%per) * longBits)
	}
	s.trim()
	return s
}

// getAffinity is sched_getaffinity(pid) with a buffer grown until the
// kernel accepts it. pid 0 is the calling thread.
func getAffinity(pid int) (CPUSet, error) {
	for n := initialMaskLongs; ; n *= 2 {
		mask := make([]uintptr, n)
		// Non-blocking (it takes only the task's pi_lock), hence RawSyscall.
		r, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY,
			uintptr(pid), uintptr(n*longSize), uintptr(unsafe.Pointer(&mask[0])))
		switch {
		case errno == unix.EINVAL && n < maxMaskLongs:
			continue // the kernel's mask is larger than ours: grow
		case errno == unix.EINVAL:
			return CPUSet{}, fmt.Errorf("sysx: sched_getaffinity(pid %d): kernel CPU mask exceeds %d CPUs: %w",
				pid, n*longBits, errno)
		case errno != 0:
			return CPUSet{}, fmt.Errorf("sysx: sched_getaffinity(pid %d): %w", pid, errnoError(errno))
		}
		return fromKernelMask(mask[:r/longSize]), nil
	}
}

// ProcessAffinity returns the CPUs the process may run on: the affinity
// mask of its thread-group leader, sched_getaffinity(getpid()), which is
// what the Cpus_allowed_list line of /proc/self/status shows. It is the set
// a new thread inherits unless its creator's mask was changed; threads that
// called [SetThreadAffinity] have their own masks. CPUs above 1023 are
// reported.
func ProcessAffinity() (CPUSet, error) {
	return getAffinity(unix.Getpid())
}

// ThreadAffinity returns the affinity mask of the calling OS thread,
// sched_getaffinity(0). The goroutine should be locked to its thread
// ([runtime.LockOSThread]) for the answer to stay relevant.
func ThreadAffinity() (CPUSet, error) {
	return getAffinity(0)
}

// SetThreadAffinity restricts the calling OS thread to the CPUs in s,
// sched_setaffinity(0, s). When it returns nil the thread already runs on
// one of them: the kernel migrates it before returning. The goroutine must
// be locked to its thread ([runtime.LockOSThread]), or the mask stays behind
// on a thread that will run other goroutines.
//
// Errors wrap the errno and name the set. EINVAL (errors.Is(err,
// unix.EINVAL)) means no CPU of s is both online and allowed by the
// thread's cpuset, which includes the empty set and CPUs beyond the
// kernel's mask; a per-CPU worker whose CPU went offline or left its cgroup
// sees this.
func SetThreadAffinity(s CPUSet) error {
	return SetTaskAffinity(0, s)
}

// SetTaskAffinity restricts the OS thread tid of this process (0: the
// calling thread) to the CPUs in s, sched_setaffinity(tid, s). Errors are as
// for SetThreadAffinity; ESRCH means the thread has exited.
func SetTaskAffinity(tid int, s CPUSet) error {
	var small [initialMaskLongs]uintptr
	mask := toKernelMask(s, small[:])
	// Syscall, not RawSyscall: the kernel may sleep while it migrates the
	// thread (stop_one_cpu), and the Go scheduler should know.
	_, _, errno := unix.Syscall(unix.SYS_SCHED_SETAFFINITY,
		uintptr(tid), uintptr(len(mask)*longSize), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		return fmt.Errorf("sysx: sched_setaffinity of thread %d to CPUs %v: %w", tid, s.List(), errnoError(errno))
	}
	return nil
}

// TaskAffinity returns the CPU set of the OS thread tid of this process.
func TaskAffinity(tid int) (CPUSet, error) { return getAffinity(tid) }
