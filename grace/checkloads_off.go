//go:build !race && !ctdefer_debug

package grace

// checkLoads is false in a plain build: Pointer.Load is the bare atomic load
// and the Debug options do not check it (they check everything else).
const checkLoads = false
