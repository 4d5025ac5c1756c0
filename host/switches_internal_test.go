package host

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The two counters come from their own lines, whatever else the status
// file holds; a file without them, or with a bad number, is an error.
func TestParseThreadSwitches(t *testing.T) {
	status := "Name:\tctdefer\nState:\tR (running)\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
	s, err := parseThreadSwitches([]byte(status))
	require.NoError(t, err, "a full status file")
	require.Equal(t, ThreadSwitches{Voluntary: 12, Involuntary: 3}, s, "both counters")

	for name, bad := range map[string]string{
		"none":         "Name:\tx\n",
		"one":          "voluntary_ctxt_switches:\t1\n",
		"not a number": "voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t3\n",
	} {
		_, err := parseThreadSwitches([]byte(bad))
		require.Error(t, err, "%s: an error", name)
	}
}
