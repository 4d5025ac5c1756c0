package membarrier

import "github.com/ctdefer/ctdefer/internal/sysx"

// Command is one membarrier command, a single bit of the kernel's enum
// membarrier_cmd (include/uapi/linux/membarrier.h). Its String is the
// kernel's name, such as "MEMBARRIER_CMD_PRIVATE_EXPEDITED".
type Command uint32

// The commands, with the kernel's values.
const (
	CmdGlobal                           = Command(sysx.MembarrierCmdGlobal)
	CmdGlobalExpedited                  = Command(sysx.MembarrierCmdGlobalExpedited)
	CmdRegisterGlobalExpedited          = Command(sysx.MembarrierCmdRegisterGlobalExpedited)
	CmdPrivateExpedited                 = Command(sysx.MembarrierCmdPrivateExpedited)
	CmdRegisterPrivateExpedited         = Command(sysx.MembarrierCmdRegisterPrivateExpedited)
	CmdPrivateExpeditedSyncCore         = Command(sysx.MembarrierCmdPrivateExpeditedSyncCore)
	CmdRegisterPrivateExpeditedSyncCore = Command(sysx.MembarrierCmdRegisterPrivateExpeditedSyncCore)
	CmdPrivateExpeditedRseq             = Command(sysx.MembarrierCmdPrivateExpeditedRseq)
	CmdRegisterPrivateExpeditedRseq     = Command(sysx.MembarrierCmdRegisterPrivateExpeditedRseq)
	CmdGetRegistrations                 = Command(sysx.MembarrierCmdGetRegistrations)
)

func (c Command) String() string { return sysx.MembarrierCmd(c).String() }

// Commands is a set of commands, as returned by [Query] and
// [Registrations]. The zero value is the empty set.
type Commands uint32

// Has reports whether every command of c is in the set (false for 0).
func (s Commands) Has(c Command) bool { return c != 0 && Commands(c)&s == Commands(c) }

// String lists the kernel's names of the commands joined by "|", in bit
// order; unknown bits print as one hexadecimal remainder, the empty set as
// "".
func (s Commands) String() string {
	if s == 0 {
		return ""
	}
	return sysx.MembarrierCmd(s).String()
}

// registrations maps each command that needs a registration, and each
// register command, to the barrier command and its register command, with
// the Go name that error messages tell the user to pass to Register.
var registrations = map[Command]struct {
	barrier, register Command
	goName            string
}{
	CmdPrivateExpedited:                 {CmdPrivateExpedited, CmdRegisterPrivateExpedited, "CmdPrivateExpedited"},
	CmdRegisterPrivateExpedited:         {CmdPrivateExpedited, CmdRegisterPrivateExpedited, "CmdPrivateExpedited"},
	CmdPrivateExpeditedSyncCore:         {CmdPrivateExpeditedSyncCore, CmdRegisterPrivateExpeditedSyncCore, "CmdPrivateExpeditedSyncCore"},
	CmdRegisterPrivateExpeditedSyncCore: {CmdPrivateExpeditedSyncCore, CmdRegisterPrivateExpeditedSyncCore, "CmdPrivateExpeditedSyncCore"},
	CmdPrivateExpeditedRseq:             {CmdPrivateExpeditedRseq, CmdRegisterPrivateExpeditedRseq, "CmdPrivateExpeditedRseq"},
	CmdRegisterPrivateExpeditedRseq:     {CmdPrivateExpeditedRseq, CmdRegisterPrivateExpeditedRseq, "CmdPrivateExpeditedRseq"},
}
