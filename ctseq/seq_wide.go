//go:build !ctdefer_narrowseq

package ctseq

const (
	buildSeqBits = 45
	reservedBits = 0
)
