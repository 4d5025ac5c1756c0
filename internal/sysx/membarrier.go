package sysx

import (
	"strconv"
	"strings"
)

// MembarrierCmd is a command of the membarrier(2) system call, the kernel's
// enum membarrier_cmd (include/uapi/linux/membarrier.h). Every command but
// [MembarrierCmdQuery] is a single bit, so the bitmasks returned by the
// Query and GetRegistrations commands are MembarrierCmd values too, and
// String prints them as a list of names.
type MembarrierCmd int

// The membarrier commands, with the values of include/uapi/linux/membarrier.h.
// See membarrier(2) for what each guarantees; in short, a barrier command
// returns only after every targeted thread that was running has executed a
// full memory barrier, and threads not running are skipped because their
// next switch to user space is itself one.
const (
	// MembarrierCmdQuery returns the bitmask of supported commands.
	MembarrierCmdQuery MembarrierCmd = 0
	// MembarrierCmdGlobal (formerly SHARED) orders every running thread of
	// every process; it waits for an RCU grace period, milliseconds.
	MembarrierCmdGlobal MembarrierCmd = 1 << 0
	// MembarrierCmdGlobalExpedited orders running threads of processes
	// registered with MembarrierCmdRegisterGlobalExpedited, by IPI.
	MembarrierCmdGlobalExpedited MembarrierCmd = 1 << 1
	// MembarrierCmdRegisterGlobalExpedited registers the process to receive
	// MembarrierCmdGlobalExpedited barriers.
	MembarrierCmdRegisterGlobalExpedited MembarrierCmd = 1 << 2
	// MembarrierCmdPrivateExpedited orders the running threads of the
	// calling process only, by IPI to the CPUs that run them. It fails with
	// EPERM until the process has registered.
	MembarrierCmdPrivateExpedited MembarrierCmd = 1 << 3
	// MembarrierCmdRegisterPrivateExpedited registers the process for
	// MembarrierCmdPrivateExpedited. Registration is process-wide and
	// permanent.
	MembarrierCmdRegisterPrivateExpedited MembarrierCmd = 1 << 4
	// MembarrierCmdPrivateExpeditedSyncCore is MembarrierCmdPrivateExpedited
	// plus instruction-stream serialization on each target (for code
	// patching and JITs).
	MembarrierCmdPrivateExpeditedSyncCore MembarrierCmd = 1 << 5
	// MembarrierCmdRegisterPrivateExpeditedSyncCore registers the process
	// for MembarrierCmdPrivateExpeditedSyncCore.
	MembarrierCmdRegisterPrivateExpeditedSyncCore MembarrierCmd = 1 << 6
	// MembarrierCmdPrivateExpeditedRseq restarts the rseq critical sections
	// of the process's running threads; with [MembarrierFlagCPU] it targets
	// one CPU.
	MembarrierCmdPrivateExpeditedRseq MembarrierCmd = 1 << 7
	// MembarrierCmdRegisterPrivateExpeditedRseq registers the process for
	// MembarrierCmdPrivateExpeditedRseq.
	MembarrierCmdRegisterPrivateExpeditedRseq MembarrierCmd = 1 << 8
	// MembarrierCmdGetRegistrations (Linux 6.3+) returns the bitmask of
	// register commands the process has issued.
	MembarrierCmdGetRegistrations MembarrierCmd = 1 << 9
)

// membarrierCmdNames holds the kernel's name of each command bit, indexed by
// bit number.
var membarrierCmdNames = [...]string{
	"MEMBARRIER_CMD_GLOBAL",
	"MEMBARRIER_CMD_GLOBAL_EXPEDITED",
	"MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED",
	"MEMBARRIER_CMD_PRIVATE_EXPEDITED",
	"MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED",
	"MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE",
	"MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE",
	"MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ",
	"MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ",
	"MEMBARRIER_CMD_GET_REGISTRATIONS",
}

// String returns the kernel's name of the command, such as
// "MEMBARRIER_CMD_PRIVATE_EXPEDITED". A bitmask of several commands (as
// returned by MembarrierCmdQuery) prints as their names joined by "|", in
// bit order; bits with no known name print as one hexadecimal remainder.
// Negative values print as "MembarrierCmd(-n)".
func (c MembarrierCmd) String() string {
	if c == MembarrierCmdQuery {
		return "MEMBARRIER_CMD_QUERY"
	}
	if c < 0 {
		return "MembarrierCmd(" + strconv.Itoa(int(c)) + ")"
	}
	var names []string
	rest := uint64(c)
	for b := range membarrierCmdNames {
		if rest&(1<<b) != 0 {
			names = append(names, membarrierCmdNames[b])
			rest &^= 1 << b
		}
	}
	if rest != 0 {
		names = append(names, "0x"+strconv.FormatUint(rest, 16))
	}
	return strings.Join(names, "|")
}

// MembarrierFlag is the flags argument of membarrier(2), the kernel's enum
// membarrier_cmd_flag.
type MembarrierFlag int

// MembarrierFlagCPU makes [MembarrierCmdPrivateExpeditedRseq] target only
// the CPU given as cpuID (MEMBARRIER_CMD_FLAG_CPU).
const MembarrierFlagCPU MembarrierFlag = 1 << 0
