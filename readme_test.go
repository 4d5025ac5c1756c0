package ctdefer_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeTourMatchesExample keeps the README's tour and examples/tour in
// sync: the README's Go block that starts with the tour's package comment
// must be the file, byte for byte. Edit the file, then paste it into the
// README (or the other way round).
// Mutants caught: none.
func TestReadmeTourMatchesExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	file, err := os.ReadFile(tourFile)
	require.NoError(t, err)

	var blocks []string
	for _, b := range goBlocks(string(readme)) {
		if strings.HasPrefix(b, "// Command tour ") {
			blocks = append(blocks, b)
		}
	}
	require.Len(t, blocks, 1, "README.md has one ```go block holding %s (it starts with the file's first line)", tourFile)
	if blocks[0] != string(file) {
		readmeLines, fileLines := strings.Split(blocks[0], "\n"), strings.Split(string(file), "\n")
		for i := range min(len(readmeLines), len(fileLines)) {
			require.Equal(t, fileLines[i], readmeLines[i], "README.md's tour differs from %s at line %d of the file", tourFile, i+1)
		}
		require.Equal(t, len(fileLines), len(readmeLines), "README.md's tour and %s differ in length", tourFile)
	}
}

// TestReadmeTourUsesPublicAPI checks that the tour is code a user of the
// module could write: it imports the standard library and the module's
// public packages, nothing internal and nothing else.
// Mutants caught: none.
func TestReadmeTourUsesPublicAPI(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), tourFile, nil, parser.ImportsOnly)
	require.NoError(t, err)
	require.Equal(t, "main", f.Name.Name, "%s is a program", tourFile)
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		require.NoError(t, err)
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") {
			continue // the standard library
		}
		require.True(t, p == "github.com/ctdefer/ctdefer" || strings.HasPrefix(p, "github.com/ctdefer/ctdefer/"),
			"%s imports %s: the tour uses only the standard library and this module", tourFile, p)
		require.NotContains(t, p+"/", "/internal/", "%s imports %s, which a user cannot import", tourFile, p)
	}
}

// TestReadmeQuotesReports keeps the README's measured figures those of the
// committed reports: every figure (a number and its unit) between
// "<!-- quoted from FILE -->" and "<!-- end of quote -->" must appear in
// FILE, with runs of white space counted as one blank (a table wraps its
// lines). Regenerate the report, then quote it again.
// Mutants caught: none.
func TestReadmeQuotesReports(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := quotedBlocks(string(readme))
	require.NotEmpty(t, blocks, "README.md quotes no report")
	for _, b := range blocks {
		report, err := os.ReadFile(b.file)
		require.NoError(t, err, "README.md quotes %s", b.file)
		require.NotEmpty(t, figureRE.FindAllString(b.text, -1), "the quote of %s holds no figure", b.file)
		require.Empty(t, missingFigures(b.text, string(report)), "README.md quotes figures that %s does not give", b.file)
	}
}

// The check catches a figure that drifted, and takes a wrapped line for
// one.
// Mutants caught: none.
func TestMissingFigures(t *testing.T) {
	report := "| Defer | 1e6/s | 102.8% | p99.99 37.9 µs |\n  67.3\n      SIGURG/s"
	require.Empty(t, missingFigures("keeps 102.8% at 1e6/s, p99.99 37.9 µs; 67.3 SIGURG/s", report))
	require.Equal(t, []string{"102.9%", "38 µs"}, missingFigures("keeps 102.9% at 1e6/s, 38 µs", report))
}
