package membarrier

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func TestCommandsHas(t *testing.T) {
	global := Commands(sysx.MembarrierCmdGlobal)
	s := CmdPrivateExpedited | cmdRegisterPrivateExpedited
	for _, tc := range []struct {
		cmd  Commands
		want bool
	}{
		{CmdPrivateExpedited, true},
		{cmdRegisterPrivateExpedited, true},
		{CmdPrivateExpedited | cmdRegisterPrivateExpedited, true},
		{CmdPrivateExpedited | global, false},
		{global, false},
		{0, false},
	} {
		require.Equal(t, tc.want, s.Has(tc.cmd), "%v.Has(%v)", s, tc.cmd)
	}
	require.False(t, Commands(0).Has(global), "the empty set has nothing")
}

func TestCommandsString(t *testing.T) {
	require.Equal(t, "MEMBARRIER_CMD_PRIVATE_EXPEDITED", CmdPrivateExpedited.String(), "one command")
	require.Equal(t, "MEMBARRIER_CMD_GLOBAL|MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE|0x1000",
		Commands(sysx.MembarrierCmdGlobal|sysx.MembarrierCmdPrivateExpeditedSyncCore|1<<12).String(),
		"a set lists names in bit order, then unknown bits")
	require.Empty(t, Commands(0).String(), "the empty set")
}

func TestQueryIsCached(t *testing.T) {
	a, errA := Query()
	b, errB := Query()
	require.Equal(t, a, b, "the answer does not change until reboot")
	require.Equal(t, errA, errB, "nor does the error")
	if errA != nil {
		require.ErrorIs(t, errA, sysx.ErrNotSupported, "Query may fail only for lack of membarrier")
		require.Contains(t, errA.Error(), "MEMBARRIER_CMD_QUERY", "the error names the command")
		require.Zero(t, a, "no commands on failure")
	}
}
