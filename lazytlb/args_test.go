package lazytlb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// A nil *ctdefer.Domain is refused with ErrNilArgument.
func TestNewNilDomain(t *testing.T) {
	var err error
	require.NotPanics(t, func() { _, err = lazytlb.New(nil, lazytlb.Options{Flush: nopFlush}) }, "New(nil)")
	require.ErrorIs(t, err, lazytlb.ErrNilArgument, "New(nil)")
	require.ErrorContains(t, err, "lazytlb: New: nil *ctdefer.Domain", "the error names the call and the argument")
}

// A nil *ctdefer.CPU is refused by Attach with ErrNilArgument, on a TLB
// made by New and on one made by NewWithSender alike (the nil check comes
// before the TLB-kind check, which would name the CPU).
func TestAttachNilCPU(t *testing.T) {
	onDomain, err := lazytlb.New(unpinnedDomain(t, ctdefer.Options{}), lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err, "New")
	withSender := newDirect(t, []int{0}, lazytlb.PolicyLazy).t
	for name, tlb := range map[string]*lazytlb.TLB{"New": onDomain, "NewWithSender": withSender} {
		var nilCPU *ctdefer.CPU
		var h *lazytlb.CPU
		require.NotPanics(t, func() { h, err = tlb.Attach(nilCPU) }, "%s: Attach(nil)", name)
		require.ErrorIs(t, err, lazytlb.ErrNilArgument, "%s: Attach(nil)", name)
		require.ErrorContains(t, err, "lazytlb: TLB.Attach: nil *ctdefer.CPU", "%s: the error names the call", name)
		require.Nil(t, h, "%s: no handle", name)
	}
}

// A nil context is refused by Shootdown with ErrNilArgument, before the
// generation is bumped.
func TestShootdownNilContext(t *testing.T) {
	d, _, mm := oneCPU(t, lazytlb.PolicyLazy, false)
	var nilCtx context.Context // a variable: staticcheck flags a literal nil context
	var err error
	require.NotPanics(t, func() { _, err = d.t.Shootdown(nilCtx, mm) }, "Shootdown(nil context)")
	require.ErrorIs(t, err, lazytlb.ErrNilArgument, "Shootdown(nil context)")
	require.ErrorContains(t, err, "lazytlb: Shootdown(a): nil context.Context", "the error names the call and the MM")
	require.Zero(t, mm.Gen(), "the generation is not bumped")
	require.Empty(t, d.sends, "nothing sent")
}
