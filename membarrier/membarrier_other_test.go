//go:build !linux

package membarrier_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/membarrier"
)

func TestEverythingNotSupported(t *testing.T) {
	_, err := membarrier.Query()
	require.ErrorIs(t, err, membarrier.ErrNotSupported, "Query")
	require.ErrorIs(t, membarrier.Register(membarrier.CmdPrivateExpedited), membarrier.ErrNotSupported, "Register")
	require.ErrorIs(t, membarrier.PrivateExpedited(), membarrier.ErrNotSupported, "PrivateExpedited")
	require.ErrorIs(t, membarrier.PrivateExpeditedSyncCore(), membarrier.ErrNotSupported, "PrivateExpeditedSyncCore")
	require.ErrorIs(t, membarrier.PrivateExpeditedRseq(), membarrier.ErrNotSupported, "PrivateExpeditedRseq")
	require.ErrorIs(t, membarrier.PrivateExpeditedRseqOnCPU(0), membarrier.ErrNotSupported, "PrivateExpeditedRseqOnCPU")
	require.ErrorIs(t, membarrier.Global(), membarrier.ErrNotSupported, "Global")
	_, err = membarrier.Registrations()
	require.ErrorIs(t, err, membarrier.ErrNotSupported, "Registrations")
}
