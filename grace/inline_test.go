package grace_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/internal/inlinecheck"
)

// The read side's fast paths inline into the caller's loop: a reader that
// pays a call per Pointer.Load reads at half the speed of liburcu's
// rcu_dereference (issue 18). The test builds testdata/inlineprobe, which
// calls them from another package as a user does, and reads the compiler's
// decisions (the Go runtime's TestIntendedInlining does the same).
// Mutants caught: quiescent-not-inlined, memb-lock-not-inlined, memb-unlock-not-inlined.
func TestIntendedInlining(t *testing.T) {
	out, err := inlinecheck.Build("-m", "./testdata/inlineprobe")
	require.NoError(t, err, "go build -gcflags=-m ./testdata/inlineprobe:\n%s", out)
	for _, fn := range []string{
		"grace.(*Pointer[go.shape.int]).Load",
		"grace.(*Pointer[go.shape.int]).Store",
		"grace.(*Pointer[go.shape.int]).Swap",
		"grace.(*Pointer[go.shape.int]).CompareAndSwap",
		"grace.(*Reader).Quiescent",
		"grace.(*Handle).Lock",
		"grace.(*Handle).Unlock",
	} {
		require.True(t, containsLine(string(out), "inlineprobe/probe.go", "inlining call to "+fn),
			"%s is not inlined into its caller any more: the read side pays a call per read\n%s", fn, out)
	}
}

// In a plain build Pointer.Load is the bare atomic load: the caller's code
// for it holds no call and no branch (a hot loop that takes one more branch
// per read reads a fifth slower, on liburcu's own benchmark), and no more
// inline-mark NOPs than sync/atomic's Pointer.Load leaves (each wrapper
// inlined between the caller and the load leaves one, a slot of the
// front end's issue width in every iteration of a read loop).
// Mutants caught: pointer-load-tests-value, pointer-load-wrapped.
func TestPointerLoadIsBare(t *testing.T) {
	out, err := inlinecheck.Build("-S", "./testdata/inlineprobe")
	require.NoError(t, err, "go build -gcflags=-S ./testdata/inlineprobe:\n%s", out)
	body := funcBody(string(out), "inlineprobe.Load")
	require.NotEmpty(t, body, "no code for inlineprobe.Load in:\n%s", out)
	base := funcBody(string(out), "inlineprobe.AtomicLoad")
	require.NotEmpty(t, base, "no code for inlineprobe.AtomicLoad in:\n%s", out)
	require.LessOrEqual(t, nops(body), nops(base),
		"Pointer.Load leaves more inline-mark NOPs than atomic.Pointer.Load: a wrapper sits between the caller and the load\n%s\nbaseline:\n%s",
		strings.Join(body, ""), strings.Join(base, ""))
	for _, l := range body {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		op := f[3]
		require.False(t, op == "CALL" || (strings.HasPrefix(op, "J") && op != "JMP"),
			"Pointer.Load's code has %s: it is not the bare load any more\n%s", op, strings.Join(body, ""))
	}
}
