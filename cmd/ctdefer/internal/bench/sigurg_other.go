//go:build !unix

package bench

// sigurgCount: no SIGURG here.
func sigurgCount() uint64 { return 0 }
