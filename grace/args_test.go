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
// Mutants caught: none.
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
// Mutants caught: none.
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
// Mutants caught: none.
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
// Mutants caught: none.
func TestCheckpointNilCPU(t *testing.T) {
	f := newFixture(t, 1, grace.Options{})
	var nilCPU *ctdefer.CPU
	requireMisuse(t, recoverFrom(func() { f.g.Checkpoint(nilCPU) }), "Checkpoint", "nil CPU")
}

// NudgeAfter is the kernel-stretch flavour's: NewQSBR refuses it with an
// *ctdefer.ArgError naming the call, the field and the value, and builds
// nothing.
// Mutant caught: qsbr-accepts-nudgeafter.
func TestNewQSBRRefusesNudgeAfter(t *testing.T) {
	f := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	for _, v := range []time.Duration{-1, time.Millisecond} {
		q, err := grace.NewQSBR(f.d, grace.Options{NudgeAfter: v})
		require.ErrorIs(t, err, ctdefer.ErrInvalid, "NewQSBR with NudgeAfter %v", v)
		var ae *ctdefer.ArgError
		require.ErrorAs(t, err, &ae, "the error is an *ctdefer.ArgError")
		require.Equal(t, "grace.NewQSBR", ae.Call, "ArgError.Call")
		require.Equal(t, "opts.NudgeAfter", ae.Arg, "ArgError.Arg")
		require.Equal(t, v, ae.Value, "ArgError.Value")
		require.Nil(t, q, "no Domain on error")
	}
}

// A method of one flavour called on a Domain of the other panics with a
// *ctdefer.MisuseError naming grace, the method and both flavours; the
// Domain is unaffected.
// Mutants caught: grace-reader-flavour-unchecked,
// grace-expedited-flavour-unchecked.
func TestWrongFlavourMisuse(t *testing.T) {
	g := newFixture(t, 1, grace.Options{NudgeAfter: -1})
	q := newQFixture(t, 1, grace.Options{})
	ctx := ctxFor(t, 5*time.Second)
	for _, tc := range []struct {
		method string
		call   func()
		this   string
	}{
		{"Reader", func() { g.g.Reader(nil) }, "kernel-stretch"},
		{"Checkpoint", func() { q.q.Checkpoint(nil) }, "QSBR"},
		{"ExpeditedBarrier", func() { _ = q.q.ExpeditedBarrier(ctx) }, "QSBR"},
	} {
		e := requireMisuse(t, recoverFrom(tc.call), tc.method, "wrong flavour")
		require.Contains(t, e.Detail, "this Domain is the "+tc.this+" flavour", "%s: the misuse names the Domain's flavour", tc.method)
	}
	require.NoError(t, g.g.Synchronize(ctx), "kernel-stretch Domain after the misuse")
	require.NoError(t, q.q.Synchronize(ctx), "QSBR Domain after the misuse")
}
