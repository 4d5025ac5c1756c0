//go:build !ctdefer_narrowseq

package ctseq

const (
	seqBits      = 45
	reservedBits = 0
)
