package sysx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Membarrier makes the raw membarrier(2) system call,
// membarrier(cmd, flags, cpuID), and returns its non-negative result: the
// bitmask of supported commands for [MembarrierCmdQuery], of registrations
// for [MembarrierCmdGetRegistrations], and 0 for the barrier and register
// commands. cpuID is used only with [MembarrierFlagCPU]; pass 0 otherwise.
//
// Errors wrap the errno and name the command: EPERM for an expedited
// barrier before the process registered for it, EINVAL for a command this
// kernel does not know (or GLOBAL on a nohz_full system). When the kernel
// has no membarrier at all (ENOSYS), the error also wraps [ErrNotSupported].
//
// Registration is process-wide and permanent. The barrier commands may
// block for IPIs (expedited) or for an RCU grace period (Global,
// milliseconds), and block the calling OS thread meanwhile.
//
// What a barrier orders (membarrier(2), kernel/sched/membarrier.c): when
// Membarrier(MembarrierCmdPrivateExpedited, 0, 0) returns, every other
// thread of the process that was running during the call has executed a
// full memory barrier (the IPI handler's smp_mb()), and every thread that
// was not running will execute one (the scheduler's switch to user space)
// before its next user-space instruction. So a fast path that uses only
// compiler ordering on the other threads pairs with the caller's
// membarrier, as liburcu's memb flavour does.
func Membarrier(cmd MembarrierCmd, flags MembarrierFlag, cpuID int) (int, error) {
	// Syscall: the expedited commands wait for IPIs, GLOBAL for a grace
	// period.
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), uintptr(flags), uintptr(cpuID))
	if errno != 0 {
		return 0, fmt.Errorf("sysx: membarrier(%v, flags %#x, cpu %d): %w", cmd, int(flags), cpuID, errnoError(errno))
	}
	return int(r), nil
}
