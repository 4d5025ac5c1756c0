package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// The tests of the packages in commentedPkgs say which mutants they catch:
// the doc comment of every top-level Test function in those packages'
// directories has exactly one line
//
//	Mutant caught: NAME.
//	Mutants caught: NAME, NAME, NAME.
//	Mutants caught: none.
//
// (a long list may go on over the next lines, up to its period)
// listing exactly the catalogue's mutants whose pkgs include the package and
// whose run: selects the test (a run: that selects subtests, "^TestX$/^sub$",
// counts for the top-level TestX). checkTestComments, run by -check, says
// where a comment and the catalogue disagree, so that neither can drift:
// a test renamed, a mutant added or a run: narrowed shows up at once.
var commentedPkgs = []string{".", "./ctseq/", "./grace/", "./lazytlb/"}

var caughtRE = regexp.MustCompile(`^Mutants? caught: (.*)\.$`)

// testDoc is a Test function and what its doc comment claims.
type testDoc struct {
	pos    string   // file:line, for messages
	hasDoc bool     // a doc comment at all
	lines  int      // how many "Mutant(s) caught:" lines it has
	claim  []string // the mutants the line names (nil for "none")
	bad    string   // the line, if it does not parse
}

// packageTests parses the _test.go files in dir (whatever their build
// tags) and returns each top-level Test function's claim.
func packageTests(dir string) (map[string]*testDoc, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	tests := map[string]*testDoc{}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !isTestFunc(fd) {
				continue
			}
			p := fset.Position(fd.Pos())
			td := &testDoc{pos: fmt.Sprintf("%s:%d", p.Filename, p.Line), hasDoc: fd.Doc != nil}
			if fd.Doc != nil {
				lines := strings.Split(fd.Doc.Text(), "\n")
				for i := 0; i < len(lines); i++ {
					l := lines[i]
					if !strings.HasPrefix(l, "Mutant caught:") && !strings.HasPrefix(l, "Mutants caught:") {
						continue
					}
					// A long list may go on over the next lines, up to its period.
					for !strings.HasSuffix(l, ".") && i+1 < len(lines) && lines[i+1] != "" {
						i++
						l += " " + lines[i]
					}
					td.lines++
					m := caughtRE.FindStringSubmatch(l)
					if m == nil {
						td.bad = l
						continue
					}
					plural := strings.HasPrefix(l, "Mutants")
					names := strings.Split(m[1], ", ")
					switch {
					case m[1] == "none":
						if !plural {
							td.bad = l
						}
					case plural != (len(names) > 1):
						td.bad = l + " (say \"Mutant caught:\" for one, \"Mutants caught:\" for several)"
					default:
						td.claim = names
					}
				}
			}
			tests[fd.Name.Name] = td
		}
	}
	return tests, nil
}

// isTestFunc: func TestXxx(t *testing.T), not TestMain.
func isTestFunc(fd *ast.FuncDecl) bool {
	n := fd.Name.Name
	if !strings.HasPrefix(n, "Test") || n == "TestMain" {
		return false
	}
	if rest := n[len("Test"):]; rest != "" && strings.ToLower(rest[:1]) == rest[:1] && rest[:1] != "_" {
		return false // Testify is not a test
	}
	ps := fd.Type.Params.List
	if len(ps) != 1 || len(ps[0].Names) > 1 {
		return false
	}
	se, ok := ps[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := se.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// topLevelRun returns the part of a go test -run regexp that selects
// top-level tests: the text before the first slash that is not inside
// brackets or parentheses (as the testing package splits it).
func topLevelRun(run string) string {
	depth := 0
	for i := 0; i < len(run); i++ {
		switch run[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				return run[:i]
			}
		}
	}
	return run
}

// checkTestComments compares the "Mutant(s) caught:" lines of the tests of
// every package in pkgs (as the catalogue names them: ".", "./grace/")
// with the catalogue, and returns one message per disagreement.
func checkTestComments(root string, pkgs []string, ms []*mutant) ([]string, error) {
	var probs []string
	for _, pkg := range pkgs {
		p, err := checkPackageComments(root, pkg, ms)
		if err != nil {
			return nil, err
		}
		probs = append(probs, p...)
	}
	return probs, nil
}

func checkPackageComments(root, pkg string, ms []*mutant) ([]string, error) {
	dir := filepath.Join(root, filepath.FromSlash(pkg))
	tests, err := packageTests(dir)
	if err != nil {
		return nil, err
	}
	want := map[string][]string{} // test -> mutants, in catalogue order
	for _, m := range ms {
		if m.equivalent != "" || !slices.ContainsFunc(m.pkgs, func(p string) bool { return path.Clean(p) == path.Clean(pkg) }) {
			continue
		}
		re, err := regexp.Compile(topLevelRun(m.run))
		if err != nil {
			return nil, fmt.Errorf("mutant %s: run: %v", m.name, err)
		}
		for name := range tests {
			if re.MatchString(name) {
				want[name] = append(want[name], m.name)
			}
		}
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	var probs []string
	for _, n := range names {
		td, w := tests[n], want[n]
		if rel, err := filepath.Rel(root, td.pos); err == nil {
			td.pos = filepath.ToSlash(rel)
		}
		line := "Mutants caught: none."
		switch len(w) {
		case 0:
		case 1:
			line = "Mutant caught: " + w[0] + "."
		default:
			line = "Mutants caught: " + strings.Join(w, ", ") + "."
		}
		switch {
		case !td.hasDoc:
			probs = append(probs, fmt.Sprintf("%s: %s has no doc comment; it needs one, with the line %q", td.pos, n, line))
		case td.lines == 0:
			probs = append(probs, fmt.Sprintf("%s: %s's doc comment lacks the line %q", td.pos, n, line))
		case td.lines > 1:
			probs = append(probs, fmt.Sprintf("%s: %s's doc comment has %d \"Mutant(s) caught:\" lines; want one: %q", td.pos, n, td.lines, line))
		case td.bad != "":
			probs = append(probs, fmt.Sprintf("%s: %s's doc comment: bad line %q; want %q", td.pos, n, td.bad, line))
		default:
			have, wantSorted := slices.Sorted(slices.Values(td.claim)), slices.Sorted(slices.Values(w))
			if !slices.Equal(have, wantSorted) {
				probs = append(probs, fmt.Sprintf("%s: %s's doc comment names mutants %v; the catalogue's run: lines select it for %v: want %q", td.pos, n, td.claim, w, line))
			}
		}
	}
	return probs, nil
}
