package membarrier

import (
	"fmt"
	"sync"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Commands is a set of membarrier commands, bits of the kernel's enum
// membarrier_cmd (include/uapi/linux/membarrier.h), as returned by [Query]
// and [Registrations]. The zero value is the empty set.
type Commands uint32

// CmdPrivateExpedited is MEMBARRIER_CMD_PRIVATE_EXPEDITED, the command of
// [PrivateExpedited].
const CmdPrivateExpedited = Commands(sysx.MembarrierCmdPrivateExpedited)

// cmdRegisterPrivateExpedited registers the process for
// CmdPrivateExpedited; cmdGetRegistrations is Registrations' command.
const (
	cmdRegisterPrivateExpedited = Commands(sysx.MembarrierCmdRegisterPrivateExpedited)
	cmdGetRegistrations         = Commands(sysx.MembarrierCmdGetRegistrations)
)

// Has reports whether every command of c is in the set (false for 0).
func (s Commands) Has(c Commands) bool { return c != 0 && c&s == c }

// String lists the kernel's names of the commands joined by "|", in bit
// order, such as "MEMBARRIER_CMD_PRIVATE_EXPEDITED"; unknown bits print as
// one hexadecimal remainder, the empty set as "".
func (s Commands) String() string {
	if s == 0 {
		return ""
	}
	return sysx.MembarrierCmd(s).String()
}

// features is what the process learns once about the kernel.
var features struct {
	once sync.Once
	cmds Commands
	err  error
}

// registered is set once RegisterPrivateExpedited has succeeded, so a
// repeated registration makes no system call.
var registered atomicx.Bool

func detect() {
	features.once.Do(func() {
		r, err := sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
		if err != nil {
			features.err = wrap(0, err)
		} else {
			features.cmds = Commands(r)
		}
	})
}

// Query returns the commands the kernel supports (MEMBARRIER_CMD_QUERY),
// asking the kernel once per process. It fails with ErrNotSupported on
// other systems and on kernels without membarrier.
func Query() (Commands, error) {
	detect()
	return features.cmds, features.err
}

// RegisterPrivateExpedited registers the process for [PrivateExpedited]
// (MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED). The registration is
// process-wide and permanent; registering again is cheap (no system call
// once it has succeeded). The first registration of a process with several
// threads may take a while: the kernel brings every CPU running one of them
// up to date. It fails with ErrNotSupported when the kernel or platform
// lacks the command.
func RegisterPrivateExpedited() error {
	if registered.Load() { // load: the package's own cache, no ordering needed
		return nil
	}
	if cmds, err := Query(); err != nil {
		return err
	} else if !cmds.Has(cmdRegisterPrivateExpedited) {
		return fmt.Errorf("membarrier: %v: the kernel supports %v: %w", cmdRegisterPrivateExpedited, cmds, sysx.ErrNotSupported)
	}
	if _, err := sysx.Membarrier(sysx.MembarrierCmd(cmdRegisterPrivateExpedited), 0, 0); err != nil {
		return wrap(cmdRegisterPrivateExpedited, err)
	}
	registered.Store(true) // store: idempotent, concurrent registrations agree
	return nil
}

// Registrations returns the register commands the process has issued
// (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3), including those made by
// other code in the process (a C library). It fails with ErrNotSupported on
// older kernels.
func Registrations() (Commands, error) {
	r, err := issue(cmdGetRegistrations)
	return Commands(r), err
}

// PrivateExpedited is MEMBARRIER_CMD_PRIVATE_EXPEDITED: when it returns,
// every thread of the process that was running during the call has
// executed a full memory barrier, and every other thread will execute one
// before it next runs user code (see the package documentation for which
// accesses that orders). Before RegisterPrivateExpedited it fails with
// EPERM, and the message says so.
func PrivateExpedited() error {
	_, err := issue(CmdPrivateExpedited)
	return err
}

// issue makes the system call, and explains a failure.
func issue(cmd Commands) (int, error) {
	r, err := sysx.Membarrier(sysx.MembarrierCmd(cmd), 0, 0)
	if err != nil {
		return 0, wrap(cmd, err)
	}
	return r, nil
}

// wrap turns a failed system call into the package's error: the command,
// ErrNotSupported where that explains it, and the errno.
func wrap(cmd Commands, err error) error {
	what := cmd.String()
	if cmd == 0 {
		what = sysx.MembarrierCmdQuery.String()
	}
	kind, errno := classify(err)
	switch kind {
	case errnoPerm:
		if cmd == CmdPrivateExpedited {
			return fmt.Errorf("membarrier: %s: the process is not registered: call RegisterPrivateExpedited first (%w)", what, errno)
		}
	case errnoNoSys:
		return fmt.Errorf("membarrier: %s: %w (%w)", what, sysx.ErrNotSupported, errno)
	case errnoInval:
		// The kernel's EINVAL for a command it lacks; anything else
		// (bad flags) keeps the bare errno. features is set by the time a
		// command other than the query fails, unless the caller skipped
		// Query: detect makes sure.
		if cmd != 0 {
			detect()
			if features.err == nil && !features.cmds.Has(cmd) {
				return fmt.Errorf("membarrier: %s: the kernel supports %v: %w (%w)", what, features.cmds, sysx.ErrNotSupported, errno)
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
