package membarrier

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// unregisteredEnv marks the re-executed test binary that checks the
// unregistered case: registration is process-wide and permanent, so that
// check must run in a process that has never registered.
const unregisteredEnv = "MEMBARRIER_TEST_UNREGISTERED"

// supported returns the kernel's commands, skipping the test on a kernel
// without membarrier.
func supported(t *testing.T) Commands {
	t.Helper()
	cmds, err := Query()
	if err != nil {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "Query may fail only for lack of membarrier")
		t.Skipf("kernel lacks membarrier: %v", err)
	}
	return cmds
}

func TestQueryLinux(t *testing.T) {
	cmds := supported(t)
	t.Logf("membarrier supports %v", cmds)
	require.True(t, cmds.Has(CmdPrivateExpedited|cmdRegisterPrivateExpedited),
		"Linux 4.14+ has PRIVATE_EXPEDITED and its registration: %v", cmds)
}

// TestBarrierBeforeRegister re-executes the test binary so that the barrier
// is issued by a process that has certainly not registered.
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
	err := PrivateExpedited()
	if !cmds.Has(CmdPrivateExpedited) {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "without kernel support")
		return
	}
	require.ErrorIs(t, err, syscall.EPERM, "before registration: the errno stays visible")
	require.NotErrorIs(t, err, ctdefer.ErrNotSupported, "not registered is not unsupported")
	require.Contains(t, err.Error(), CmdPrivateExpedited.String(), "the error names the command")
	require.Contains(t, err.Error(), "call RegisterPrivateExpedited first", "the error says what to call")
	t.Logf("%v", err)
}

func TestRegisterThenBarrier(t *testing.T) {
	if os.Getenv(unregisteredEnv) == "1" {
		t.Skip("the unregistered child must not register")
	}
	cmds := supported(t)
	if !cmds.Has(CmdPrivateExpedited) {
		require.ErrorIs(t, RegisterPrivateExpedited(), ctdefer.ErrNotSupported, "register without kernel support")
		require.ErrorIs(t, PrivateExpedited(), ctdefer.ErrNotSupported, "barrier without kernel support")
		return
	}
	require.NoError(t, RegisterPrivateExpedited(), "RegisterPrivateExpedited")
	require.True(t, registered.Load(), "the registration is cached")
	require.NoError(t, RegisterPrivateExpedited(), "again (cached)")
	require.NoError(t, PrivateExpedited(), "barrier after registration")
	regs, err := Registrations()
	if !cmds.Has(cmdGetRegistrations) {
		require.ErrorIs(t, err, ctdefer.ErrNotSupported, "Registrations before Linux 6.3")
		require.ErrorIs(t, err, syscall.EINVAL, "the kernel's EINVAL stays visible")
		return
	}
	require.NoError(t, err, "Registrations")
	require.True(t, regs.Has(cmdRegisterPrivateExpedited), "registrations %v must include %v", regs, cmdRegisterPrivateExpedited)
}

// TestWrapENOSYS: a kernel without membarrier answers ENOSYS, which is
// ErrNotSupported.
func TestWrapENOSYS(t *testing.T) {
	err := wrap(CmdPrivateExpedited, syscall.ENOSYS)
	require.ErrorIs(t, err, ctdefer.ErrNotSupported, "ENOSYS")
	require.ErrorIs(t, err, syscall.ENOSYS, "the errno stays visible")
	err = wrap(cmdRegisterPrivateExpedited, syscall.EPERM)
	require.NotErrorIs(t, err, ctdefer.ErrNotSupported, "EPERM of a register command (seccomp) is not unsupported")
	require.ErrorIs(t, err, syscall.EPERM, "the errno")
}
