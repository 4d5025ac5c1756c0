package sysx_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// TestMembarrierCmdValues pins the constants to include/uapi/linux/membarrier.h.
func TestMembarrierCmdValues(t *testing.T) {
	for _, tc := range []struct {
		cmd  sysx.MembarrierCmd
		want int
		name string
	}{
		{sysx.MembarrierCmdQuery, 0, "MEMBARRIER_CMD_QUERY"},
		{sysx.MembarrierCmdGlobal, 1, "MEMBARRIER_CMD_GLOBAL"},
		{sysx.MembarrierCmdGlobalExpedited, 2, "MEMBARRIER_CMD_GLOBAL_EXPEDITED"},
		{sysx.MembarrierCmdRegisterGlobalExpedited, 4, "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED"},
		{sysx.MembarrierCmdPrivateExpedited, 8, "MEMBARRIER_CMD_PRIVATE_EXPEDITED"},
		{sysx.MembarrierCmdRegisterPrivateExpedited, 16, "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED"},
		{sysx.MembarrierCmdPrivateExpeditedSyncCore, 32, "MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE"},
		{sysx.MembarrierCmdRegisterPrivateExpeditedSyncCore, 64, "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE"},
		{sysx.MembarrierCmdPrivateExpeditedRseq, 128, "MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ"},
		{sysx.MembarrierCmdRegisterPrivateExpeditedRseq, 256, "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ"},
		{sysx.MembarrierCmdGetRegistrations, 512, "MEMBARRIER_CMD_GET_REGISTRATIONS"},
	} {
		require.Equal(t, tc.want, int(tc.cmd), "value of %s", tc.name)
		require.Equal(t, tc.name, tc.cmd.String(), "String of %d", tc.want)
	}
	require.Equal(t, 1, int(sysx.MembarrierFlagCPU), "MEMBARRIER_CMD_FLAG_CPU")
}

func TestMembarrierCmdStringMask(t *testing.T) {
	mask := sysx.MembarrierCmdPrivateExpedited | sysx.MembarrierCmdRegisterPrivateExpedited | 1<<12
	require.Equal(t, "MEMBARRIER_CMD_PRIVATE_EXPEDITED|MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED|0x1000", mask.String(),
		"a mask prints as names in bit order plus the unknown remainder")
	require.Equal(t, "0x400", sysx.MembarrierCmd(1<<10).String(), "an unknown bit prints in hex")
	require.Equal(t, "MembarrierCmd(-1)", sysx.MembarrierCmd(-1).String(), "negative values")
}
