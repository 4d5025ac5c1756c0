package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCatalogue(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "catalogue.txt")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseCatalogue(t *testing.T) {
	p := writeCatalogue(t, `# a comment
name: one
file: a.go
desc: the bug
old:  x := 1
new:  "x := 2\n\ty := 3"
pkgs: . ./b/
tags: ctdefer_explore
run:  ^TestOne$

name: two
file: b.go
desc: no behaviour change
old:  a
new:  b
equivalent: a and b are the same here
`)
	ms, err := parseCatalogue(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d mutants, want 2", len(ms))
	}
	m := ms[0]
	if m.name != "one" || m.file != "a.go" || len(m.hunks) != 1 || m.hunks[0].old != "x := 1" || m.hunks[0].new != "x := 2\n\ty := 3" ||
		strings.Join(m.pkgs, " ") != ". ./b/" || m.tags != "ctdefer_explore" || m.run != "^TestOne$" {
		t.Errorf("entry one parsed as %+v", *m)
	}
	if ms[1].equivalent == "" || ms[1].run != "" {
		t.Errorf("entry two parsed as %+v", *ms[1])
	}
}

func TestParseCatalogueErrors(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"missing run", "name: a\nfile: f\ndesc: d\nold: x\nnew: y\npkgs: .\n", "run: missing"},
		{"duplicate", "name: a\nfile: f\ndesc: d\nold: x\nnew: y\npkgs: .\nrun: .\nname: a\nfile: f\ndesc: d\nold: x\nnew: z\npkgs: .\nrun: .\n", "already defined"},
		{"same text", "name: a\nfile: f\ndesc: d\nold: x\nnew: x\npkgs: .\nrun: .\n", "same text"},
		{"unknown key", "name: a\nfile: f\ndesc: d\nold: x\nnew: y\npkgs: .\nrun: .\ncolour: red\n", "unknown key"},
		{"bad quote", "name: a\nfile: f\ndesc: d\nold: \"x\nnew: y\npkgs: .\nrun: .\n", "Go string literal"},
		{"bad pending", "name: a\nfile: f\ndesc: d\nold: x\nnew: y\npkgs: .\nrun: .\npending: spin\n", "pending"},
		{"bad run", "name: a\nfile: f\ndesc: d\nold: x\nnew: y\npkgs: .\nrun: (\n", "run:"},
		{"old twice", "name: a\nfile: f\ndesc: d\nold: x\nold: y\nnew: z\npkgs: .\nrun: .\n", "old: twice without a new:"},
		{"new first", "name: a\nfile: f\ndesc: d\nnew: y\nold: x\npkgs: .\nrun: .\n", "new: without an old:"},
		{"missing new", "name: a\nfile: f\ndesc: d\nold: x\npkgs: .\nrun: .\n", "new: missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseCatalogue(writeCatalogue(t, c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	m := &mutant{name: "m", file: "f.go", hunks: []hunk{{old: "a+b", new: "a-b", hasNew: true}}}
	got, err := m.apply("x := a+b\n")
	if err != nil || got != "x := a-b\n" {
		t.Errorf("apply: %q, %v", got, err)
	}
	if _, err := m.apply("x := a*b\n"); err == nil || !strings.Contains(err.Error(), "stale mutant m: old text not found") {
		t.Errorf("missing text: %v", err)
	}
	if _, err := m.apply("a+b; a+b"); err == nil || !strings.Contains(err.Error(), "found 2 times") {
		t.Errorf("repeated text: %v", err)
	}
	two := &mutant{name: "two", file: "f.go", hunks: []hunk{{old: "a+b", new: "a-b", hasNew: true}, {old: "a-b;", new: "c;", hasNew: true}}}
	if got, err := two.apply("x := a+b; y\n"); err != nil || got != "x := c; y\n" {
		t.Errorf("two hunks: %q, %v", got, err)
	}
	if _, err := two.apply("x := a+b\n"); err == nil || !strings.Contains(err.Error(), "old text 2 not found") {
		t.Errorf("two hunks, second missing: %v", err)
	}
}

// TestParseMultiHunk: old: and new: may repeat in pairs.
func TestParseMultiHunk(t *testing.T) {
	ms, err := parseCatalogue(writeCatalogue(t, "name: a\nfile: f\ndesc: d\nold: x\nnew: y\nold: p\nnew: q\npkgs: .\nrun: .\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := ms[0].hunks; len(h) != 2 || h[0].old != "x" || h[0].new != "y" || h[1].old != "p" || h[1].new != "q" {
		t.Errorf("hunks %+v", h)
	}
}

// TestWriteOverlay: the overlay maps the real file's absolute path to the
// mutated copy, and the real file is not touched.
func TestWriteOverlay(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	real := filepath.Join(root, "pkg", "f.go")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("package pkg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay, err := writeOverlay(root, dir, "pkg/f.go", "package pkg // mutated\n")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(overlay)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	mutated, ok := o.Replace[real]
	if len(o.Replace) != 1 || !ok || !strings.HasPrefix(mutated, dir) {
		t.Fatalf("overlay %s", b)
	}
	if b, _ := os.ReadFile(mutated); string(b) != "package pkg // mutated\n" {
		t.Errorf("mutated copy %q", b)
	}
	if b, _ := os.ReadFile(real); string(b) != "package pkg\n" {
		t.Errorf("real file changed: %q", b)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name    string
		out     string
		success bool
		kind    outcomeKind
		by      string
	}{
		{"pass", "=== RUN   TestA\n--- PASS: TestA (0.00s)\nPASS\nok  \tpkg\t0.1s\n", true, passed, ""},
		{"no tests", "testing: warning: no tests to run\nPASS\nok  \tpkg\t0.1s [no tests to run]\n", true, noTests, ""},
		{"all skipped", "=== RUN   TestA\n--- SKIP: TestA (0.00s)\nPASS\nok  \tpkg\t0.1s\n", true, noTests, "every test it ran skipped, TestA first"},
		{"fail", "=== RUN   TestA\n    a_test.go:1: boom\n--- FAIL: TestA (0.00s)\nFAIL\nFAIL\tpkg\t0.1s\n", false, caughtTest, "TestA"},
		{"subtest", "    --- FAIL: TestA/sub/leaf (0.00s)\n--- FAIL: TestA (0.00s)\nFAIL\n", false, caughtTest, "TestA/sub/leaf"},
		{"parent first", "--- FAIL: TestA (0.00s)\n    --- FAIL: TestA/sub (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\n", false, caughtTest, "TestA/sub"},
		{"build", "# pkg\n./a.go:3:9: undefined: x\nFAIL\tpkg [build failed]\nFAIL\n", false, buildFailed, "./a.go:3:9: undefined: x"},
		{"timeout", "panic: test timed out after 2m0s\n\trunning tests:\n\t\tTestA (2m0s)\n\ngoroutine 1 [running]:\n", false, caughtHang, "test binary timed out; running TestA"},
		{"goleak", "PASS\ngoleak: Errors on successful test run: found unexpected goroutines:\nFAIL\tpkg\t1s\n", false, caughtOther, "TestMain (goleak: goroutines left behind)"},
		{"crash", "panic: boom\n\ngoroutine 7 [running]:\nFAIL\tpkg\t0.1s\n", false, caughtOther, "a crash: panic: boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := runOutcome{output: c.out}
			classify(&o, c.success)
			if o.kind != c.kind || o.by != c.by {
				t.Errorf("classify: kind %d by %q, want kind %d by %q", o.kind, o.by, c.kind, c.by)
			}
		})
	}
}

func TestTopLevelRun(t *testing.T) {
	for run, want := range map[string]string{
		"^TestA$":                     "^TestA$",
		"^TestA$/^sub$":               "^TestA$",
		"^(TestA|TestB)$":             "^(TestA|TestB)$",
		`^TestA$/^ctseq\.Word-blind$`: "^TestA$",
		"^Test[/]A$/x":                "^Test[/]A$",
	} {
		if got := topLevelRun(run); got != want {
			t.Errorf("topLevelRun(%q) = %q, want %q", run, got, want)
		}
	}
}

func TestCheckTestComments(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import "testing"

// TestA does a.
// Mutants caught: m1, m2.
func TestA(t *testing.T) {}

// TestB does b. Mutant caught: m1.
func TestB(t *testing.T) {}

// TestC does c.
// Mutants caught: none.
func TestC(t *testing.T) {}

// TestF does f.
// Mutants caught: m1,
// m4.
func TestF(t *testing.T) {}

func TestD(t *testing.T) {}

// TestE does e.
// Mutant caught: m3.
func TestE(t *testing.T) {}

func helper(t *testing.T) {}
`
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ms := []*mutant{
		{name: "m1", pkgs: []string{"."}, run: "^(TestA|TestB|TestF)$"},
		{name: "m2", pkgs: []string{"."}, run: "^TestA$/^sub$"},
		{name: "m3", pkgs: []string{"./other/"}, run: "^TestE$"},
		{name: "m4", pkgs: []string{"./"}, run: "^TestF$"},
		{name: "m5", pkgs: []string{"."}, equivalent: "yes"},
	}
	probs, err := checkTestComments(dir, []string{"."}, ms)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(probs, "\n")
	for _, want := range []string{
		`TestB's doc comment lacks the line "Mutant caught: m1."`,
		"TestD has no doc comment",
		`TestE's doc comment names mutants [m3]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant one containing %q", got, want)
		}
	}
	if len(probs) != 3 {
		t.Errorf("%d problems, want 3:\n%s", len(probs), got)
	}
}
