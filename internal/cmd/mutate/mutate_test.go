package main

import (
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
	if m.name != "one" || m.file != "a.go" || m.old != "x := 1" || m.new != "x := 2\n\ty := 3" ||
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
	m := &mutant{name: "m", file: "f.go", old: "a+b", new: "a-b"}
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
