package ctdefer_test

import (
	"testing"

	"github.com/ctdefer/ctdefer"
	"github.com/stretchr/testify/require"
)

// The IPI latency histogram has one sample per IPI claim, and its largest
// is the worst latency.
// Mutant caught: histogram-not-recorded.
func TestIPILatencyHistogram(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	o := startOwner(t, d, 0)
	for range 5 {
		require.Equal(t, ctdefer.IPI, requireDefer(t, d, 0, w))
		o.do(func(c *ctdefer.CPU) { c.Poll() })
	}
	st := d.Stats()
	h := st.CPUs[0].IPILatency
	require.Equal(t, uint64(5), h.Total(), "one sample per claim: %v", h)
	require.Positive(t, h.Quantile(1))
	require.LessOrEqual(t, h.Quantile(0.5), h.Quantile(0.99))
	require.LessOrEqual(t, h.Quantile(0.99), h.Quantile(1))
	require.Equal(t, h, st.IPILatency, "the total of one busy CPU is its own")
}
