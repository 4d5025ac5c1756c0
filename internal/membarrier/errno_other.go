//go:build !linux

package membarrier

// classify: there is no errno on this platform; the stub's error wraps
// ErrNotSupported.
func classify(error) (errnoKind, error) { return errnoNone, nil }
