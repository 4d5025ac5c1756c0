package lazytlb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// A nil *ctdefer.Domain is refused with a *ctdefer.ArgError.
// Mutants caught: none.
func TestNewNilDomain(t *testing.T) {
	var err error
	require.NotPanics(t, func() { _, err = lazytlb.New(nil, lazytlb.Options{Flush: nopFlush}) }, "New(nil)")
	requireArgError(t, err, "lazytlb.New", "d", "nil *ctdefer.Domain", "New(nil)")
	require.EqualError(t, err, "lazytlb.New: d: nil *ctdefer.Domain: invalid argument", "the error names the call and the argument")
}

// A nil *ctdefer.CPU is refused by Attach with a *ctdefer.ArgError, on a
// TLB made by New and on one made by NewWithSender alike (the nil check
// comes before the TLB-kind check, which would name the CPU).
// Mutants caught: none.
func TestAttachNilCPU(t *testing.T) {
	onDomain, err := lazytlb.New(unpinnedDomain(t, ctdefer.Options{}), lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err, "New")
	withSender := newDirect(t, []int{0}, lazytlb.PolicyLazy).t
	for name, tlb := range map[string]*lazytlb.TLB{"New": onDomain, "NewWithSender": withSender} {
		var nilCPU *ctdefer.CPU
		var h *lazytlb.CPU
		require.NotPanics(t, func() { h, err = tlb.Attach(nilCPU) }, "%s: Attach(nil)", name)
		ae := requireArgError(t, err, "lazytlb.TLB.Attach", "c", "nil *ctdefer.CPU", name+": Attach(nil)")
		require.Nil(t, ae.Value, "%s: no CPU to name", name)
		require.Nil(t, h, "%s: no handle", name)
	}
}

// A nil context is refused by Shootdown with a *ctdefer.ArgError, before
// the generation is bumped.
// Mutants caught: none.
func TestShootdownNilContext(t *testing.T) {
	d, _, mm := oneCPU(t, lazytlb.PolicyLazy, false)
	var nilCtx context.Context // a variable: staticcheck flags a literal nil context
	var err error
	require.NotPanics(t, func() { _, err = d.t.Shootdown(nilCtx, mm) }, "Shootdown(nil context)")
	requireArgError(t, err, "lazytlb.TLB.Shootdown", "ctx", "nil context.Context", "Shootdown(nil context)")
	require.Zero(t, mm.Gen(), "the generation is not bumped")
	require.Empty(t, d.sends, "nothing sent")
}
