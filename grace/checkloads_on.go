//go:build race || ctdefer_debug

package grace

// checkLoads is true in race-detector builds and with the tag ctdefer_debug:
// Pointer.Load checks its caller when the flavour's Debug option is on.
const checkLoads = true
