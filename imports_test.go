package ctdefer_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnlySysxImportsUnix enforces the layout rule: internal/sysx is the one
// package that imports golang.org/x/sys/unix; everything else goes through it.
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

// atomicsAllowed are the non-test files that may import sync/atomic, and why.
var atomicsAllowed = map[string]string{
	"grace/load_bare.go": "Pointer.Load's plain build: one load with no inlined wrapper; " +
		"the explorer's build (ctdefer_explore) compiles load_checked.go instead",
	"bench/liburcu/workload/gorun.go": "a benchmark beside C, never explored: its start and stop flags " +
		"are sync/atomic's functions, as the C side's are plain volatile loads",
}

// goFile is one Go file of the module and its imports.
type goFile struct {
	path    string // slash-separated, relative to the module root
	test    bool   // a _test.go file
	imports []string
}

// moduleGoFiles parses the imports of every Go file of the module, under
// every build constraint, except those in nested modules (tools,
// cmd/ctdefer: directories with a go.mod of their own), testdata and hidden
// directories.
func moduleGoFiles(t *testing.T) []goFile {
	t.Helper()
	fset := token.NewFileSet()
	var files []goFile
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		g := goFile{path: filepath.ToSlash(path), test: strings.HasSuffix(path, "_test.go")}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			g.imports = append(g.imports, p)
		}
		files = append(files, g)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(files), 20, "the walk found the module's files")
	return files
}
