package ctdefer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnlySysxImportsUnix enforces the layout rule: internal/sysx is the one
// package that imports golang.org/x/sys/unix; everything else goes through it.
// Mutants caught: none.
func TestOnlySysxImportsUnix(t *testing.T) {
	for _, f := range moduleGoFiles(t) {
		for _, p := range f.imports {
			if p == "golang.org/x/sys/unix" {
				require.True(t, strings.HasPrefix(f.path, "internal/sysx/"), "%s imports %s: only internal/sysx may", f.path, p)
			}
		}
	}
}

// TestOnlyAtomicxImportsAtomics enforces the one-door rule on which the
// interleaving explorer's exactness rests: memory shared between goroutines
// goes through internal/atomicx, whose operations the explorer can stop at.
// No non-test file of the module outside internal/atomicx may import
// sync/atomic or go.uber.org/atomic, under any build tag (the walk parses
// every file, whatever its constraints); examples included. Test files may:
// they check and measure, and are not explored. So may the files in
// atomicsAllowed, each for the reason it gives.
// Mutants caught: none.
func TestOnlyAtomicxImportsAtomics(t *testing.T) {
	checked := 0
	for _, f := range moduleGoFiles(t) {
		if f.test || strings.HasPrefix(f.path, "internal/atomicx/") || atomicsAllowed[f.path] != "" {
			continue
		}
		checked++
		for _, p := range f.imports {
			require.False(t, p == "sync/atomic" || p == "go.uber.org/atomic",
				"%s imports %s: shared memory goes through internal/atomicx only (see internal/explore/doc.go)", f.path, p)
		}
	}
	require.Greater(t, checked, 20, "the walk found the module's non-test files")
}
