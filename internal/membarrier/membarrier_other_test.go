//go:build !linux

package membarrier

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// TestEverythingNotSupported: off Linux every call fails with the module's
// one ErrNotSupported, which the root package re-exports.
func TestEverythingNotSupported(t *testing.T) {
	_, err := Query()
	require.ErrorIs(t, err, ctdefer.ErrNotSupported, "Query")
	require.ErrorIs(t, RegisterPrivateExpedited(), ctdefer.ErrNotSupported, "RegisterPrivateExpedited")
	require.ErrorIs(t, PrivateExpedited(), ctdefer.ErrNotSupported, "PrivateExpedited")
	_, err = Registrations()
	require.ErrorIs(t, err, ctdefer.ErrNotSupported, "Registrations")
}
