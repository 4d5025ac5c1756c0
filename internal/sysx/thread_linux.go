package sysx

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Gettid returns the kernel's ID of the calling OS thread, gettid(2). It is
// stable only while the goroutine is locked to its thread.
func Gettid() int {
	return unix.Gettid()
}

// CurrentCPU returns the number of the CPU the calling OS thread is running
// on, getcpu(2). Without an affinity mask of one CPU the answer may be stale
// by the time it is returned; with one (see [SetThreadAffinity]) it is
// exact. On amd64 it reads the number as the vDSO does (RDTSCP, a few
// nanoseconds) once a first call has checked it against the system call;
// elsewhere it makes the raw system call (golang.org/x/sys/unix has no
// Getcpu, and Go does not use the vDSO's).
func CurrentCPU() (int, error) {
	if cpu, ok := fastCPU(); ok {
		return cpu, nil
	}
	return getcpuSyscall()
}

// getcpuSyscall is getcpu(2) by system call.
func getcpuSyscall() (int, error) {
	var cpu uint32
	// getcpu(unsigned *cpu, unsigned *node, struct getcpu_cache *tcache);
	// non-blocking, hence RawSyscall.
	_, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if errno != 0 {
		return -1, fmt.Errorf("sysx: getcpu: %w", errnoError(errno))
	}
	return int(cpu), nil
}
