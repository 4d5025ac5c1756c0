//go:build ctdefer_narrowseq

package ctseq

// Narrow-sequence build: the counter wraps every four transitions. Every test
// of this package must pass under this tag too (the README's test command
// runs them so, and the explorer's ctseq scenarios). It is a test aid for
// this package only: the runtime's DeferWait compares sequences that may be
// more than one transition apart (SeqReached), which a 2-bit counter cannot
// order, so the other packages are not tested under it.
const (
	buildSeqBits = 2
	reservedBits = 43
)
