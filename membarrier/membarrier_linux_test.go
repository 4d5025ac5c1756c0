package membarrier_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/membarrier"
)

// unregisteredEnv marks the re-executed test binary that checks the
// unregistered case: registration is process-wide and permanent, so that
// check must run in a process that has never registered.
const unregisteredEnv = "MEMBARRIER_TEST_UNREGISTERED"

// barriers are the commands that need a registration, with their calls.
var barriers = []struct {
	cmd, register membarrier.Command
	call          func() error
}{
	{membarrier.CmdPrivateExpedited, membarrier.CmdRegisterPrivateExpedited, membarrier.PrivateExpedited},
	{membarrier.CmdPrivateExpeditedSyncCore, membarrier.CmdRegisterPrivateExpeditedSyncCore, membarrier.PrivateExpeditedSyncCore},
	{membarrier.CmdPrivateExpeditedRseq, membarrier.CmdRegisterPrivateExpeditedRseq, membarrier.PrivateExpeditedRseq},
}

// supported returns the kernel's commands, skipping the test on a kernel
// without membarrier.
func supported(t *testing.T) membarrier.Commands {
	t.Helper()
	cmds, err := membarrier.Query()
	if err != nil {
		require.ErrorIs(t, err, membarrier.ErrNotSupported, "Query may fail only for lack of membarrier")
		t.Skipf("kernel lacks membarrier: %v", err)
	}
	return cmds
}

func TestQueryLinux(t *testing.T) {
	cmds := supported(t)
	t.Logf("membarrier supports %v", cmds)
	require.True(t, cmds.Has(membarrier.CmdPrivateExpedited|membarrier.CmdRegisterPrivateExpedited),
		"Linux 4.14+ has PRIVATE_EXPEDITED and its registration: %v", cmds)
}

// TestBarrierBeforeRegister re-executes the test binary so that the barriers
// are issued by a process that has certainly not registered.
func TestBarrierBeforeRegister(t *testing.T) {
	cmds := supported(t)
	if os.Getenv(unregisteredEnv) != "1" {
		exe, err := os.Executable()
		require.NoError(t, err, "os.Executable")
		cmd := exec.Command(exe, "-test.run=^TestBarrierBeforeRegister$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), unregisteredEnv+"=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child process failed:\n%s", out)
		require.Contains(t, string(out), "--- PASS: TestBarrierBeforeRegister", "the child must have run the checks:\n%s", out)
		return
	}
	for _, b := range barriers {
		err := b.call()
		if !cmds.Has(b.cmd) {
			require.ErrorIs(t, err, membarrier.ErrNotSupported, "%v without kernel support", b.cmd)
			continue
		}
		require.ErrorIs(t, err, membarrier.ErrNotRegistered, "%v before registration", b.cmd)
		require.ErrorIs(t, err, syscall.EPERM, "%v: the errno stays visible", b.cmd)
		require.Contains(t, err.Error(), b.cmd.String(), "the error names the command")
		require.Contains(t, err.Error(), "membarrier.Register(membarrier.Cmd", "the error says what to call")
		t.Logf("%v: %v", b.cmd, err)
	}
}

func TestRegisterThenBarrier(t *testing.T) {
	if os.Getenv(unregisteredEnv) == "1" {
		t.Skip("the unregistered child must not register")
	}
	cmds := supported(t)
	for _, b := range barriers {
		t.Run(b.cmd.String(), func(t *testing.T) {
			if !cmds.Has(b.cmd) {
				require.ErrorIs(t, membarrier.Register(b.cmd), membarrier.ErrNotSupported, "Register without kernel support")
				require.ErrorIs(t, b.call(), membarrier.ErrNotSupported, "barrier without kernel support")
				return
			}
			require.NoError(t, membarrier.Register(b.cmd), "Register")
			require.NoError(t, membarrier.Register(b.cmd), "Register again (cached)")
			require.NoError(t, b.call(), "barrier after registration")
			regs, err := membarrier.Registrations()
			if !cmds.Has(membarrier.CmdGetRegistrations) {
				require.ErrorIs(t, err, membarrier.ErrNotSupported, "Registrations before Linux 6.3")
				return
			}
			require.NoError(t, err, "Registrations")
			require.True(t, regs.Has(b.register), "registrations %v must include %v", regs, b.register)
		})
	}
}

func TestPrivateExpeditedRseqOnCPU(t *testing.T) {
	if os.Getenv(unregisteredEnv) == "1" {
		t.Skip("the unregistered child must not register")
	}
	cmds := supported(t)
	if !cmds.Has(membarrier.CmdPrivateExpeditedRseq) {
		require.ErrorIs(t, membarrier.PrivateExpeditedRseqOnCPU(0), membarrier.ErrNotSupported, "without CONFIG_RSEQ")
		t.Skipf("kernel lacks PRIVATE_EXPEDITED_RSEQ: %v", cmds)
	}
	require.NoError(t, membarrier.Register(membarrier.CmdPrivateExpeditedRseq), "Register RSEQ")
	require.NoError(t, membarrier.PrivateExpeditedRseqOnCPU(0), "CPU 0 always exists")
	for _, cpu := range []int{-1, 1 << 20} {
		err := membarrier.PrivateExpeditedRseqOnCPU(cpu)
		require.ErrorIs(t, err, membarrier.ErrBadCPU, "CPU %d", cpu)
	}
}

func TestGlobal(t *testing.T) {
	cmds := supported(t)
	err := membarrier.Global()
	if !cmds.Has(membarrier.CmdGlobal) {
		require.ErrorIs(t, err, membarrier.ErrNotSupported, "GLOBAL absent from the query (nohz_full)")
		require.ErrorIs(t, err, syscall.EINVAL, "the kernel's EINVAL stays visible")
		return
	}
	require.NoError(t, err, "GLOBAL needs no registration")
}
