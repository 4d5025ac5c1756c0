//go:build !ctdefer_narrowseq

package ctseq

const (
	seqBits      = 46
	reservedBits = 0
)
