package grace_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// A nil *ctdefer.Domain is refused with an *ctdefer.ArgError (ctdefer.ErrInvalid), not dereferenced.
func TestNewNilDomain(t *testing.T) {
	var g *grace.Domain
	var err error
	require.NotPanics(t, func() { g, err = grace.New(nil, grace.Options{}) }, "New(nil)")
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "New(nil)")
	require.ErrorContains(t, err, "grace.New: d: nil", "the error names the call and the argument")
	require.Nil(t, g, "New(nil) returns no Domain")
}

// A nil function is refused by Retire and TryRetire with an *ctdefer.ArgError (ctdefer.ErrInvalid),
// and nothing is retired.
func TestRetireNilFunction(t *testing.T) {
	f := newFixture(t, 1, grace.Options{})
	for name, retire := range map[string]func(func()) error{"Retire": f.g.Retire, "TryRetire": f.g.TryRetire} {
		var err error
		require.NotPanics(t, func() { err = retire(nil) }, "%s(nil)", name)
		require.ErrorIs(t, err, ctdefer.ErrInvalid, "%s(nil)", name)
		require.ErrorContains(t, err, "grace."+name+": fn: nil", "the error names the call and the argument")
	}
	require.Equal(t, uint64(0), f.g.Stats().Retired, "nothing retired")
	require.NoError(t, f.g.Close(ctxFor(t, 5*time.Second)), "Close")
}

// A nil context is refused by every wait with an *ctdefer.ArgError (ctdefer.ErrInvalid), before it
// waits or changes anything: Close(nil) closes nothing.
func TestWaitNilContext(t *testing.T) {
	f := newFixture(t, 1, grace.Options{})
	var nilCtx context.Context // a variable: staticcheck flags a literal nil context
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Synchronize", func() error { return f.g.Synchronize(nilCtx) }},
		{"Wait", func() error { return f.g.Wait(nilCtx, f.g.Start()) }},
		{"Barrier", func() error { return f.g.Barrier(nilCtx) }},
		{"ExpeditedBarrier", func() error { return f.g.ExpeditedBarrier(nilCtx) }},
		{"Close", func() error { return f.g.Close(nilCtx) }},
	} {
		var err error
		require.NotPanics(t, func() { err = tc.call() }, "%s(nil context)", tc.name)
		require.ErrorIs(t, err, ctdefer.ErrInvalid, "%s(nil context)", tc.name)
		require.ErrorContains(t, err, "grace."+tc.name+": ctx: nil", "the error names the call and the argument")
	}
	require.NoError(t, f.g.Retire(func() {}), "Retire after Close(nil): Close(nil) closed nothing")
	require.NoError(t, f.g.Close(ctxFor(t, 5*time.Second)), "Close")
}

// Checkpoint returns nothing: a nil *ctdefer.CPU is a misuse panic naming
// the package and the method, not a nil dereference.
func TestCheckpointNilCPU(t *testing.T) {
	f := newFixture(t, 1, grace.Options{})
	var nilCPU *ctdefer.CPU
	require.PanicsWithValue(t, "grace: Checkpoint: nil *ctdefer.CPU", func() { f.g.Checkpoint(nilCPU) }, "Checkpoint(nil)")
}
