//go:build !linux

package sysx_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

func TestStubsReturnErrNotSupported(t *testing.T) {
	_, err := sysx.ProcessAffinity()
	require.ErrorIs(t, err, sysx.ErrNotSupported, "ProcessAffinity")
	_, err = sysx.ThreadAffinity()
	require.ErrorIs(t, err, sysx.ErrNotSupported, "ThreadAffinity")
	err = sysx.SetThreadAffinity(sysx.CPUSetOf(0))
	require.ErrorIs(t, err, sysx.ErrNotSupported, "SetThreadAffinity")
	cpu, err := sysx.CurrentCPU()
	require.ErrorIs(t, err, sysx.ErrNotSupported, "CurrentCPU")
	require.Equal(t, -1, cpu, "CurrentCPU result on error")
	var word uint32
	err = sysx.FutexWait(&word, 0, -1)
	require.ErrorIs(t, err, sysx.ErrNotSupported, "FutexWait")
	_, err = sysx.FutexWake(&word, 1)
	require.ErrorIs(t, err, sysx.ErrNotSupported, "FutexWake")
	_, err = sysx.Membarrier(sysx.MembarrierCmdQuery, 0, 0)
	require.ErrorIs(t, err, sysx.ErrNotSupported, "Membarrier")
	require.Equal(t, -1, sysx.Gettid(), "Gettid")
}
