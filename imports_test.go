package ctdefer_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnlySysxImportsUnix enforces the layout rule: internal/sysx is the one
// package that imports golang.org/x/sys/unix; everything else goes through it.
func TestOnlySysxImportsUnix(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == "tools" || strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
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
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "golang.org/x/sys/unix" {
				require.True(t, strings.HasPrefix(path, "internal/sysx/"), "%s imports %s: only internal/sysx may", path, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, checked, 20, "the walk found the module's files")
}
