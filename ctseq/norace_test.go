//go:build !race

package ctseq_test

// raceEnabled reports whether the race detector is on; hammers shrink their
// iteration counts under it.
const raceEnabled = false
