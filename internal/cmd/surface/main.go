// Command surface counts the public face of the module's importable
// packages, with go/ast: exported identifiers (types, functions, methods of
// exported types, constants, variables, and exported fields are not
// counted), the methods of Domain, sentinel errors (exported variables
// initialised with errors.New) and exported error types. It prints the
// counts, and with -check it fails when one exceeds its target (issue 20:
// the public packages at most 180 in all, the root at most 70, Domain at
// most 14 methods, at most 15 sentinel errors). A sentinel is an exported
// variable named Err..., an alias of another package's included.
//
//	go run ./internal/cmd/surface          # the table
//	go run ./internal/cmd/surface -check   # and fail above a target
//	go run ./internal/cmd/surface -v       # and list the names
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// The public packages, relative to the module root: every importable
// package that is not internal, a command, an example or a benchmark.
var public = []string{".", "ctseq", "grace", "host", "lazytlb", "stats"}

// Targets (issue 20).
const (
	maxTotal     = 180
	maxRoot      = 70
	maxDomain    = 14
	maxSentinels = 15
)

type count struct {
	pkg        string
	idents     int      // exported identifiers
	names      []string // and their names
	sentinels  []string // exported Err... variables
	errorTypes []string // exported types with an Error method
	methods    map[string][]string
}

func main() {
	check := flag.Bool("check", false, "fail when a count exceeds its target")
	root := flag.String("root", ".", "the module root")
	list := flag.Bool("v", false, "list every exported identifier")
	flag.Parse()
	var all []count
	for _, p := range public {
		c, err := countPackage(filepath.Join(*root, p))
		if err != nil {
			fmt.Fprintln(os.Stderr, "surface:", err)
			os.Exit(2)
		}
		c.pkg = p
		all = append(all, c)
	}
	total, sentinels := 0, 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "package\texported identifiers\tsentinel errors\terror types\t")
	for _, c := range all {
		name := c.pkg
		if name == "." {
			name = "ctdefer (root)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", name, c.idents, len(c.sentinels), len(c.errorTypes))
		total += c.idents
		sentinels += len(c.sentinels)
	}
	fmt.Fprintf(tw, "all public packages\t%d\t%d\t\t\n", total, sentinels)
	tw.Flush()
	if *list {
		for _, c := range all {
			sort.Strings(c.names)
			fmt.Printf("\n%s (%d): %s\n", c.pkg, c.idents, strings.Join(c.names, " "))
			fmt.Printf("  sentinels: %s\n", strings.Join(c.sentinels, " "))
		}
	}
	domain := all[0].methods["Domain"]
	fmt.Printf("\nDomain: %d methods: %s\n", len(domain), strings.Join(domain, ", "))

	var over []string
	if total > maxTotal {
		over = append(over, fmt.Sprintf("%d exported identifiers in the public packages (target %d)", total, maxTotal))
	}
	if all[0].idents > maxRoot {
		over = append(over, fmt.Sprintf("%d in the root package (target %d)", all[0].idents, maxRoot))
	}
	if len(domain) > maxDomain {
		over = append(over, fmt.Sprintf("Domain has %d methods (target %d)", len(domain), maxDomain))
	}
	if sentinels > maxSentinels {
		over = append(over, fmt.Sprintf("%d sentinel errors (target %d)", sentinels, maxSentinels))
	}
	for _, o := range over {
		fmt.Println("over target:", o)
	}
	if *check && len(over) > 0 {
		os.Exit(1)
	}
}

// countPackage parses the non-test Go files of dir (every build tag: the
// face is the union over platforms) and counts its exported names.
func countPackage(dir string) (count, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return count{}, err
	}
	c := count{methods: map[string][]string{}}
	seen := map[string]bool{} // a name declared in several platform files counts once
	add := func(name string) {
		if ast.IsExported(name) && !seen[name] {
			seen[name] = true
			c.idents++
			c.names = append(c.names, name)
		}
	}
	errTypes := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return count{}, err
		}
		if f.Name.Name == "main" {
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					add(d.Name.Name)
					continue
				}
				recv := recvName(d.Recv.List[0].Type)
				if !ast.IsExported(recv) || !ast.IsExported(d.Name.Name) {
					continue
				}
				add(recv + "." + d.Name.Name)
				if !seen["m:"+recv+"."+d.Name.Name] {
					seen["m:"+recv+"."+d.Name.Name] = true
					c.methods[recv] = append(c.methods[recv], d.Name.Name)
				}
				if d.Name.Name == "Error" {
					errTypes[recv] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						add(s.Name.Name)
					case *ast.ValueSpec:
						for i, name := range s.Names {
							add(name.Name)
							if d.Tok == token.VAR && strings.HasPrefix(name.Name, "Err") && i < len(s.Values) {
								c.sentinels = append(c.sentinels, name.Name)
							}
						}
					}
				}
			}
		}
	}
	for t := range errTypes {
		c.errorTypes = append(c.errorTypes, t)
	}
	sort.Strings(c.errorTypes)
	for _, m := range c.methods {
		sort.Strings(m)
	}
	return c, nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}
