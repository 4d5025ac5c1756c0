package membarrier

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Sentinel errors; the functions wrap them with the command (and the errno
// where there is one), so test with errors.Is.
var (
	// ErrNotSupported: the platform is not Linux, the kernel has no
	// membarrier (ENOSYS), or it lacks the command. It is the same value
	// as ctdefer.ErrNotSupported.
	ErrNotSupported = sysx.ErrNotSupported

	// ErrNotRegistered: an expedited command was issued before the process
	// registered for it (EPERM): call Register with the command first.
	ErrNotRegistered = errors.New("membarrier: process not registered for the command")

	// ErrInvalidCommand: Register was given a command that has no
	// registration (only the private expedited commands have one here).
	ErrInvalidCommand = errors.New("membarrier: command has no registration")

	// ErrBadCPU: PrivateExpeditedRseqOnCPU was given a negative CPU or one
	// beyond the machine's possible CPUs.
	ErrBadCPU = errors.New("membarrier: no such CPU")
)

// features is what the process learns once about the kernel.
var features struct {
	once     sync.Once
	cmds     Commands
	err      error
	possible sysx.CPUSet // CPUs the kernel may ever bring online; empty if unknown
}

// registered caches the barrier commands this process has registered for,
// so a repeated Register makes no system call. Only Register writes it.
var registered atomicx.Uint32

func detect() {
	features.once.Do(func() {
		r, err := sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
		if err != nil {
			features.err = wrap(0, -1, err)
		} else {
			features.cmds = Commands(r)
		}
		features.possible = possibleCPUs()
	})
}

// Query returns the commands the kernel supports (MEMBARRIER_CMD_QUERY),
// asking the kernel once per process. It fails with ErrNotSupported on
// other systems and on kernels without membarrier.
func Query() (Commands, error) {
	detect()
	return features.cmds, features.err
}

// Register registers the process for the expedited command cmd
// (CmdPrivateExpedited, CmdPrivateExpeditedSyncCore or
// CmdPrivateExpeditedRseq; their register commands are accepted too). The
// registration is process-wide and permanent; registering again is cheap
// (no system call once it has succeeded). The first registration of a
// process with several threads may take a while: the kernel brings every
// CPU running one of them up to date.
//
// Errors: ErrInvalidCommand for a command without registration,
// ErrNotSupported when the kernel or platform lacks it.
func Register(cmd Command) error {
	r, ok := registrations[cmd]
	if !ok {
		return fmt.Errorf("membarrier: Register(%v): registrable commands are %v: %w", cmd,
			Commands(CmdPrivateExpedited|CmdPrivateExpeditedSyncCore|CmdPrivateExpeditedRseq), ErrInvalidCommand)
	}
	if Commands(registered.Load()).Has(r.barrier) { // load: Register's own cache, no ordering needed
		return nil
	}
	if cmds, err := Query(); err != nil {
		return err
	} else if !cmds.Has(r.register) {
		return fmt.Errorf("membarrier: Register(%v): the kernel supports %v: %w", r.barrier, cmds, ErrNotSupported)
	}
	if _, err := sysx.Membarrier(sysx.MembarrierCmd(r.register), 0, 0); err != nil {
		return wrap(r.register, -1, err)
	}
	registered.Or(uint32(r.barrier)) // RMW: concurrent Registers of different commands
	return nil
}

// Registrations returns the register commands the process has issued
// (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3), including those made by
// other code in the process (a C library). It fails with ErrNotSupported on
// older kernels.
func Registrations() (Commands, error) {
	r, err := issue(CmdGetRegistrations, 0, 0)
	return Commands(r), err
}

// PrivateExpedited is MEMBARRIER_CMD_PRIVATE_EXPEDITED: when it returns,
// every thread of the process that was running during the call has
// executed a full memory barrier, and every other thread will execute one
// before it next runs user code (see the package documentation for which
// accesses that orders). Fails with ErrNotRegistered before
// Register(CmdPrivateExpedited).
func PrivateExpedited() error {
	_, err := issue(CmdPrivateExpedited, 0, 0)
	return err
}

// PrivateExpeditedSyncCore is MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE:
// PrivateExpedited, and every targeted CPU also serializes its instruction
// stream before running user code again. Call it after writing code that
// other threads will execute and before letting them jump to it. Fails with
// ErrNotRegistered before Register(CmdPrivateExpeditedSyncCore), and with
// ErrNotSupported on architectures without it.
func PrivateExpeditedSyncCore() error {
	_, err := issue(CmdPrivateExpeditedSyncCore, 0, 0)
	return err
}

// PrivateExpeditedRseq is MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ:
// PrivateExpedited, and the rseq critical section each targeted thread may
// be running is restarted. Fails with ErrNotRegistered before
// Register(CmdPrivateExpeditedRseq), and with ErrNotSupported without
// CONFIG_RSEQ.
func PrivateExpeditedRseq() error {
	_, err := issue(CmdPrivateExpeditedRseq, 0, 0)
	return err
}

// PrivateExpeditedRseqOnCPU is PrivateExpeditedRseq for the one CPU cpu
// (MEMBARRIER_CMD_FLAG_CPU): if a thread of the process runs there, it is
// interrupted as above; otherwise nothing happens and the call returns nil.
//
// The kernel treats a negative cpu as "every CPU" and silently ignores one
// it cannot have; both are caught here as ErrBadCPU (the second when the
// possible CPUs can be read from sysfs).
func PrivateExpeditedRseqOnCPU(cpu int) error {
	if cpu < 0 {
		return fmt.Errorf("membarrier: %v on CPU %d: %w", CmdPrivateExpeditedRseq, cpu, ErrBadCPU)
	}
	detect()
	if p := features.possible; p.Count() > 0 && !p.Has(cpu) {
		return fmt.Errorf("membarrier: %v on CPU %d: possible CPUs are %q: %w", CmdPrivateExpeditedRseq, cpu, p, ErrBadCPU)
	}
	_, err := issue(CmdPrivateExpeditedRseq, sysx.MembarrierFlagCPU, cpu)
	return err
}

// Global is MEMBARRIER_CMD_GLOBAL: every running thread of every process
// has executed a full barrier when it returns. It needs no registration
// and sends no IPI: it waits for an RCU grace period, milliseconds. It
// fails with ErrNotSupported on kernels booted with nohz_full.
func Global() error {
	_, err := issue(CmdGlobal, 0, 0)
	return err
}

// issue makes the system call, and explains a failure.
func issue(cmd Command, flags sysx.MembarrierFlag, cpu int) (int, error) {
	r, err := sysx.Membarrier(sysx.MembarrierCmd(cmd), flags, cpu)
	if err != nil {
		if flags&sysx.MembarrierFlagCPU == 0 {
			cpu = -1
		}
		return 0, wrap(cmd, cpu, err)
	}
	return r, nil
}

// wrap turns a failed system call into the package's error: the command
// (and the CPU, if cpu >= 0), the sentinel that explains it, and the errno.
func wrap(cmd Command, cpu int, err error) error {
	what := cmd.String()
	if cpu >= 0 {
		what += fmt.Sprintf(" on CPU %d", cpu)
	}
	kind, errno := classify(err)
	switch kind {
	case errnoPerm:
		if r, ok := registrations[cmd]; ok {
			return fmt.Errorf("membarrier: %s: %w: call membarrier.Register(membarrier.%s) first (%w)",
				what, ErrNotRegistered, r.goName, errno)
		}
	case errnoNoSys:
		return fmt.Errorf("membarrier: %s: %w (%w)", what, ErrNotSupported, errno)
	case errnoInval:
		// The kernel's EINVAL for a command it lacks; anything else
		// (bad flags) keeps the bare errno. features is set by the time a
		// command other than the query fails, unless the caller skipped
		// Query: detect makes sure.
		if cmd != 0 {
			detect()
			if features.err == nil && !features.cmds.Has(cmd) {
				return fmt.Errorf("membarrier: %s: the kernel supports %v: %w (%w)", what, features.cmds, ErrNotSupported, errno)
			}
		}
	case errnoNone:
		// Not an errno: the platform's ErrNotSupported.
		return fmt.Errorf("membarrier: %s: %w", what, err)
	}
	return fmt.Errorf("membarrier: %s: %w", what, errno)
}

// errnoKind is the class of a failed membarrier system call.
type errnoKind uint8

const (
	errnoNone  errnoKind = iota // not an errno (non-Linux stub)
	errnoPerm                   // EPERM: not registered
	errnoNoSys                  // ENOSYS: no membarrier
	errnoInval                  // EINVAL: unknown command or bad flags
	errnoOther
)
