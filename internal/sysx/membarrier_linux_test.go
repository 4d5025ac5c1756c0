package sysx_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// membarrierChildEnv marks the re-executed test binary that checks the
// unregistered case: registration is process-wide and permanent, so it must
// run in a process that has never registered.
const membarrierChildEnv = "SYSX_TEST_MEMBARRIER_UNREGISTERED"

// membarrierSupported skips the test, after checking the error is the
// documented one, when the kernel has no membarrier or no private expedited
// command.
func membarrierSupported(t *testing.T) {
	t.Helper()
	mask, err := sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
	if err != nil {
		require.ErrorIs(t, err, sysx.ErrNotSupported, "membarrier query failed other than by ENOSYS")
		require.ErrorIs(t, err, unix.ENOSYS, "the ENOSYS must stay visible")
		t.Skipf("kernel lacks membarrier: %v", err)
	}
	if sysx.MembarrierCmd(mask)&sysx.MembarrierCmdPrivateExpedited == 0 {
		t.Skipf("kernel lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED: supports %v", sysx.MembarrierCmd(mask))
	}
}

func TestMembarrierQuery(t *testing.T) {
	mask, err := sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
	if err != nil {
		require.ErrorIs(t, err, sysx.ErrNotSupported, "membarrier query may fail only by ENOSYS")
		return
	}
	cmds := sysx.MembarrierCmd(mask)
	t.Logf("membarrier supports %v", cmds)
	require.NotZero(t, cmds&sysx.MembarrierCmdPrivateExpedited, "this kernel (4.14+) must support PRIVATE_EXPEDITED: %v", cmds)
	require.NotZero(t, cmds&sysx.MembarrierCmdRegisterPrivateExpedited, "and its registration: %v", cmds)
}

// TestMembarrierPrivateExpeditedUnregistered re-executes the test binary so
// that the check runs in a process that has certainly not registered.
func TestMembarrierPrivateExpeditedUnregistered(t *testing.T) {
	if os.Getenv(membarrierChildEnv) == "1" {
		membarrierSupported(t)
		_, err := sysx.Membarrier(sysx.MembarrierCmdPrivateExpedited, 0, 0)
		require.ErrorIs(t, err, unix.EPERM, "PRIVATE_EXPEDITED before registration")
		require.Contains(t, err.Error(), "MEMBARRIER_CMD_PRIVATE_EXPEDITED", "error must name the command")
		return
	}
	membarrierSupported(t)
	exe, err := os.Executable()
	require.NoError(t, err, "os.Executable")
	cmd := exec.Command(exe, "-test.run=^TestMembarrierPrivateExpeditedUnregistered$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), membarrierChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child process failed:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestMembarrierPrivateExpeditedUnregistered", "child must have run the check:\n%s", out)
}

func TestMembarrierRegisterThenPrivateExpedited(t *testing.T) {
	if os.Getenv(membarrierChildEnv) == "1" {
		t.Skip("the unregistered child must not register")
	}
	membarrierSupported(t)
	r, err := sysx.Membarrier(sysx.MembarrierCmdRegisterPrivateExpedited, 0, 0)
	require.NoError(t, err, "REGISTER_PRIVATE_EXPEDITED")
	require.Zero(t, r, "register returns 0")
	r, err = sysx.Membarrier(sysx.MembarrierCmdPrivateExpedited, 0, 0)
	require.NoError(t, err, "PRIVATE_EXPEDITED after registration")
	require.Zero(t, r, "barrier returns 0")

	mask, err := sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
	require.NoError(t, err, "query")
	if sysx.MembarrierCmd(mask)&sysx.MembarrierCmdGetRegistrations != 0 {
		regs, err := sysx.Membarrier(sysx.MembarrierCmdGetRegistrations, 0, 0)
		require.NoError(t, err, "GET_REGISTRATIONS")
		require.NotZero(t, sysx.MembarrierCmd(regs)&sysx.MembarrierCmdRegisterPrivateExpedited,
			"registrations %v must include REGISTER_PRIVATE_EXPEDITED", sysx.MembarrierCmd(regs))
	}
}

func TestMembarrierUnknownCommand(t *testing.T) {
	membarrierSupported(t)
	_, err := sysx.Membarrier(1<<30, 0, 0)
	require.ErrorIs(t, err, unix.EINVAL, "an unknown command")
	require.Contains(t, err.Error(), "0x40000000", "error must name the command")
}
