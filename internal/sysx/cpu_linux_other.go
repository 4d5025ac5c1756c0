//go:build linux && !amd64

package sysx

// fastCPU reports false: only amd64 reads the CPU number without a system
// call.
func fastCPU() (int, bool) { return 0, false }
