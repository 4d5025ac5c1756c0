//go:build !linux

package membarrier

import "github.com/ctdefer/ctdefer/internal/sysx"

// classify: there is no errno on this platform; the stub's error wraps
// ErrNotSupported.
func classify(error) (errnoKind, error) { return errnoNone, nil }

// possibleCPUs is unknown here.
func possibleCPUs() sysx.CPUSet { return sysx.CPUSet{} }
