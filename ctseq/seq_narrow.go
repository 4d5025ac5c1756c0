//go:build ctdefer_narrowseq

package ctseq

// Narrow-sequence build: the counter wraps every four transitions. Every test
// of this package must pass under this tag too (the README's test command
// runs them so).
const (
	seqBits      = 2
	reservedBits = 44
)
