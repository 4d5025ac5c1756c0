package ctseq_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Under concurrent senders and an owner moving between User and Kernel,
// every item runs exactly once, by the deferred path or by an IPI.
// Mutants caught: none.
func TestHammerExactlyOnce(t *testing.T) {
	const senders = 3
	var w ctseq.Word
	start := time.Now()
	r := hammer(t, &w, hammerConfig{senders: senders, items: hammerItems(t, senders), userSpin: 50, timeout: 10 * time.Second})
	t.Logf("Word: %v in %v", r, time.Since(start).Round(time.Millisecond))
	require.Greater(t, r.deferred, int64(0), "the hammer must exercise the deferred path")
	require.Greater(t, r.refused, int64(0), "the hammer must exercise the IPI path")
	requireExactlyOnce(t, "Word", r)
}

// TestHammerExactlyOnceFastOwner is the hammer with an owner that toggles
// without spinning, so that its KernelEnter often lands between a sender's
// load and its CAS: the window of the two-atomic race (the LKML thread
// "context-tracking: Introduce work deferral infrastructure", July 2023).
// A stress test can make that window likely, not certain: the explorer's
// two-senders scenario is the deterministic proof (setwork-two-atomic in
// verify/mutants/catalogue.txt).
// Mutants caught: none.
func TestHammerExactlyOnceFastOwner(t *testing.T) {
	const senders = 3
	cfg := hammerConfig{senders: senders, items: hammerItems(t, senders), userSpin: 0, timeout: 10 * time.Second}
	var w ctseq.Word
	start := time.Now()
	r := hammer(t, &w, cfg)
	t.Logf("Word: %v in %v", r, time.Since(start).Round(time.Millisecond))
	requireExactlyOnce(t, "Word", r)
}
