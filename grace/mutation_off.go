//go:build !ctdefer_explore

package grace

const mutation = mutNone

// exploreAwait is the explorer's wait hook; without the ctdefer_explore tag
// there is none.
func exploreAwait(func() bool) bool { return false }
