package membarrier_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/membarrier"
)

func TestCommandsHas(t *testing.T) {
	s := membarrier.Commands(membarrier.CmdPrivateExpedited | membarrier.CmdRegisterPrivateExpedited)
	for _, tc := range []struct {
		cmd  membarrier.Command
		want bool
	}{
		{membarrier.CmdPrivateExpedited, true},
		{membarrier.CmdRegisterPrivateExpedited, true},
		{membarrier.CmdPrivateExpedited | membarrier.CmdRegisterPrivateExpedited, true},
		{membarrier.CmdPrivateExpedited | membarrier.CmdGlobal, false},
		{membarrier.CmdGlobal, false},
		{0, false},
	} {
		require.Equal(t, tc.want, s.Has(tc.cmd), "%v.Has(%v)", s, tc.cmd)
	}
	require.False(t, membarrier.Commands(0).Has(membarrier.CmdGlobal), "the empty set has nothing")
}

func TestCommandsString(t *testing.T) {
	require.Equal(t, "MEMBARRIER_CMD_PRIVATE_EXPEDITED", membarrier.CmdPrivateExpedited.String(), "one command")
	require.Equal(t, "MEMBARRIER_CMD_GLOBAL|MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE|0x1000",
		membarrier.Commands(membarrier.CmdGlobal|membarrier.CmdPrivateExpeditedSyncCore|1<<12).String(),
		"a set lists names in bit order, then unknown bits")
	require.Empty(t, membarrier.Commands(0).String(), "the empty set")
}

// TestErrNotSupportedIsCtdefers pins the promise that one errors.Is test
// serves both packages.
func TestErrNotSupportedIsCtdefers(t *testing.T) {
	require.Same(t, ctdefer.ErrNotSupported, membarrier.ErrNotSupported, "one sentinel for both packages")
}

func TestQueryIsCached(t *testing.T) {
	a, errA := membarrier.Query()
	b, errB := membarrier.Query()
	require.Equal(t, a, b, "the answer does not change until reboot")
	require.Equal(t, errA, errB, "nor does the error")
	if errA != nil {
		require.ErrorIs(t, errA, membarrier.ErrNotSupported, "Query may fail only for lack of membarrier")
		require.Zero(t, a, "no commands on failure")
	}
}

func TestRegisterInvalidCommand(t *testing.T) {
	for _, cmd := range []membarrier.Command{membarrier.CmdGlobal, membarrier.CmdGetRegistrations, 1 << 20, 0} {
		err := membarrier.Register(cmd)
		require.ErrorIs(t, err, membarrier.ErrInvalidCommand, "Register(%v)", cmd)
		require.Contains(t, err.Error(), cmd.String(), "error must name the command")
	}
}

func TestPrivateExpeditedRseqOnNegativeCPU(t *testing.T) {
	err := membarrier.PrivateExpeditedRseqOnCPU(-1)
	require.ErrorIs(t, err, membarrier.ErrBadCPU, "a negative CPU would mean every CPU to the kernel")
	require.Contains(t, err.Error(), "CPU -1", "error must name the CPU")
}
