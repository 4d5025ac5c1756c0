// Command mutate is ctdefer's mutation-testing harness: it applies each
// mutant of the catalogue (verify/mutants/catalogue.txt), a small plausible
// bug written as textual replacements in one file of the real code, runs the
// tests the catalogue names for it against the mutated code, and reports
// which test caught it, or that it survived.
//
//	go run ./internal/cmd/mutate                  # every mutant
//	go run ./internal/cmd/mutate -run 'mailbox'   # the mutants whose name matches
//	go run ./internal/cmd/mutate -count 3         # each 3 times: a catch must not depend on chance
//	go run ./internal/cmd/mutate -check           # only check that every entry still applies
//	                                              # (and, as every run without -run, that the
//	                                              # tests' comments name their mutants: comments.go)
//
// The working tree is never written. For each mutant the harness writes the
// mutated file into a temporary directory, with an overlay file
// (go help build, -overlay) that maps the real file's path to it, and runs,
// in the module root,
//
//	go test -overlay=DIR/overlay.json -count=1 -short -vet=off -v -timeout T [-tags TAGS] -run RUN PKGS
//
// so the go command compiles the mutated file in place of the real one and
// everything else as it is: the build cache is shared with ordinary builds,
// and only the mutated package and what depends on it are rebuilt. A harness
// that is killed leaves at most a temporary directory behind, never a
// mutated tree. (The overlay is seen by the compiler only: a test that reads
// a source file at run time reads the real one.) It prints one line per mutant:
//
//	mutant NAME: caught by TestName          (the first --- FAIL line)
//	mutant NAME: caught by timeout (...)     (a hang the test binary's -timeout ended)
//	mutant NAME: survived
//
// and a summary, "mutation score: C/N caught (E equivalent, S survived)".
// A mutant that does not compile ("caught by build"), an entry whose old
// text is not found exactly once (stale), and a -run that matches no test
// (or only tests that skip) are defects of the catalogue: they are listed separately and fail the
// run, as does any surviving mutant, except those marked "pending:
// explorer" (their scenario is still to be written: listed, not failed).
// Entries marked "equivalent" are checked for staleness but not run.
// Without -run, the harness also checks that the doc comment of every Test
// in the packages of commentedPkgs names exactly the mutants whose run:
// selects it (comments.go); a disagreement fails the run too.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/ctdefer/ctdefer/internal/inlinecheck"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	var (
		catalogue = flag.String("catalogue", "verify/mutants/catalogue.txt", "the catalogue, relative to the module root")
		runRE     = flag.String("run", "", "run only the mutants whose name matches this regexp")
		parallel  = flag.Int("parallel", 2, "mutants tested at the same time")
		timeout   = flag.Duration("timeout", 120*time.Second, "go test -timeout for each run")
		count     = flag.Int("count", 1, "runs per mutant; it is caught only if every run catches it")
		check     = flag.Bool("check", false, "only check that every entry applies; run no test")
		verbose   = flag.Bool("v", false, "print the go test output of every run")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./internal/cmd/mutate [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *parallel < 1 || *count < 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(config{
		catalogue: *catalogue, runRE: *runRE, parallel: *parallel, timeout: *timeout,
		count: *count, check: *check, verbose: *verbose,
	}))
}

type config struct {
	catalogue string
	runRE     string
	parallel  int
	timeout   time.Duration
	count     int
	check     bool
	verbose   bool
}

func run(cfg config) int {
	start := time.Now()
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	path := filepath.FromSlash(cfg.catalogue)
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	all, err := parseCatalogue(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	sel := all
	if cfg.runRE != "" {
		re, err := regexp.Compile(cfg.runRE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mutate: -run:", err)
			return 2
		}
		sel = nil
		for _, m := range all {
			if re.MatchString(m.name) {
				sel = append(sel, m)
			}
		}
		if len(sel) == 0 {
			fmt.Fprintf(os.Stderr, "mutate: no mutant matches -run %q\n", cfg.runRE)
			return 2
		}
	}
	// Every selected entry must apply to the tree as it is now.
	results := make([]*result, len(sel))
	var toRun []int
	for i, m := range sel {
		r := &result{m: m}
		results[i] = r
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.file)))
		if err == nil {
			r.mutated, err = m.apply(string(b))
		} else {
			err = fmt.Errorf("stale mutant %s: %w", m.name, err)
		}
		switch {
		case err != nil:
			r.stale = err
		case m.equivalent != "" || cfg.check:
		default:
			toRun = append(toRun, i)
		}
	}
	// With the whole catalogue selected, the tests' comments must agree
	// with it (comments.go); a disagreement fails the run like a stale entry.
	var probs []string
	if cfg.runRE == "" {
		probs, err = checkTestComments(root, commentedPkgs, all)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mutate:", err)
			return 2
		}
	}
	commentStatus := func(status int) int {
		if cfg.runRE != "" {
			return status
		}
		for _, p := range probs {
			fmt.Println(p)
		}
		fmt.Printf("mutate: %d test comment(s) in %s disagree with the catalogue\n", len(probs), strings.Join(commentedPkgs, " "))
		if len(probs) > 0 && status == 0 {
			return 1
		}
		return status
	}
	if cfg.check {
		return commentStatus(report(results, nil, time.Since(start), true))
	}
	fmt.Printf("mutate: %d mutants (%d to run, %d at a time, %d run(s) each), go test -timeout %v\n",
		len(sel), len(toRun), cfg.parallel, cfg.count, cfg.timeout)

	// An interrupt stops the go test commands and lets each worker remove
	// its temporary directory.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, cfg.parallel)
		outMu sync.Mutex
	)
	for _, i := range toRun {
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			r.test(ctx, root, cfg)
			outMu.Lock()
			defer outMu.Unlock()
			fmt.Printf("%s   [%v]\n", r.line(), r.elapsed.Round(100*time.Millisecond))
			for k, o := range r.runs {
				switch {
				case cfg.verbose || r.isDefect():
					fmt.Printf("    --- run %d: %s\n%s\n", k+1, strings.Join(o.cmd, " "), indent(o.output))
				case o.kind == passed && r.m.pending == "":
					// A survivor: say which tests it passed.
					fmt.Printf("    --- run %d: %s\n%s\n", k+1, strings.Join(o.cmd, " "), indent(strings.Join(resultRE.FindAllString(o.output, -1), "\n")))
				}
			}
		}(results[i])
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "mutate: interrupted")
		return 130
	}
	return commentStatus(report(results, toRun, time.Since(start), false))
}

// result is what happened to one mutant.
type result struct {
	m       *mutant
	mutated string // the file's content with the mutant applied
	stale   error
	runs    []runOutcome
	elapsed time.Duration
}

// runOutcome is one go test run of a mutant.
type runOutcome struct {
	cmd    []string
	output string
	kind   outcomeKind
	by     string // caughtTest: the test; caughtOther: what failed; build: the first error
}

type outcomeKind int

const (
	passed      outcomeKind = iota // every named test passed: the mutant survived this run
	noTests                        // passed, but -run matched no test in any package, or every one skipped
	caughtTest                     // a test reported a failure
	caughtHang                     // no test failed, the test binary timed out
	caughtOther                    // the binary failed without naming a test (crash, TestMain, goleak)
	buildFailed                    // the mutated tree does not build
)

func (o runOutcome) caught() bool {
	return o.kind == caughtTest || o.kind == caughtHang || o.kind == caughtOther
}

func (o runOutcome) describe() string {
	switch o.kind {
	case caughtTest:
		return "caught by " + o.by
	case caughtHang:
		return "caught by timeout (" + o.by + ")"
	case caughtOther:
		return "caught by " + o.by
	case buildFailed:
		return "caught by build (" + o.by + ")"
	case noTests:
		if o.by != "" {
			return "survived: " + o.by
		}
		return "survived: -run matched no test"
	}
	return "survived"
}

// test writes the mutated file and its overlay to a temporary directory
// and runs the mutant's tests cfg.count times.
func (r *result) test(ctx context.Context, root string, cfg config) {
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()
	dir, err := os.MkdirTemp("", "ctdefer-mutant-"+r.m.name+"-")
	if err != nil {
		r.runs = append(r.runs, runOutcome{kind: buildFailed, by: err.Error()})
		return
	}
	defer os.RemoveAll(dir)
	overlay, err := writeOverlay(root, dir, r.m.file, r.mutated)
	if err != nil {
		r.runs = append(r.runs, runOutcome{kind: buildFailed, by: "writing the overlay: " + err.Error()})
		return
	}
	for range cfg.count {
		if ctx.Err() != nil {
			return
		}
		o := goTest(ctx, root, overlay, r.m, cfg.timeout)
		r.runs = append(r.runs, o)
		if o.kind == buildFailed || o.kind == noTests {
			return // a defect: more runs would say the same
		}
	}
}

// writeOverlay writes content, the mutated version of file (slash-separated,
// relative to root), into dir, and an overlay file that puts it in place of
// the real file for the go command; it returns the overlay file's path.
func writeOverlay(root, dir, file, content string) (string, error) {
	mutated := filepath.Join(dir, filepath.Base(filepath.FromSlash(file)))
	if err := os.WriteFile(mutated, []byte(content), 0o644); err != nil {
		return "", err
	}
	real := filepath.Join(root, filepath.FromSlash(file))
	b, err := json.Marshal(struct{ Replace map[string]string }{map[string]string{real: mutated}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o644)
}

func goTest(parent context.Context, root, overlay string, m *mutant, timeout time.Duration) runOutcome {
	args := []string{"test", "-overlay=" + overlay, "-count=1", "-short", "-vet=off", "-v", "-timeout", timeout.String()}
	if m.tags != "" {
		args = append(args, "-tags", m.tags)
	}
	args = append(args, "-run", m.run)
	args = append(args, m.pkgs...)
	// The test binary ends itself at -timeout; the go command gets a
	// margin for building, then is killed.
	ctx, cancel := context.WithTimeout(parent, timeout+3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// OverlayEnv passes the overlay on to the go commands that tests run
	// themselves (internal/inlinecheck builds a probe package): they must
	// compile the mutant too.
	cmd.Env = append(os.Environ(), "GOWORK=off", inlinecheck.OverlayEnv+"="+overlay)
	cmd.WaitDelay = 10 * time.Second
	ownGroup(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	o := runOutcome{cmd: append([]string{"go"}, args...), output: out.String()}
	if ctx.Err() != nil {
		o.kind, o.by = caughtHang, fmt.Sprintf("go test killed after %v", timeout+3*time.Minute)
		if parent.Err() != nil {
			o.kind, o.by = caughtOther, "interrupted"
		}
		return o
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		o.kind, o.by = caughtOther, "go test could not run: "+err.Error()
		return o
	}
	classify(&o, err == nil)
	return o
}

var (
	failRE      = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
	buildRE     = regexp.MustCompile(`(?m)^FAIL\s+\S+\s+\[(build|setup) failed\]`)
	passRE      = regexp.MustCompile(`(?m)^\s*--- PASS: `)
	resultRE    = regexp.MustCompile(`(?m)^\s*--- (PASS|SKIP): .*$|^(ok|FAIL)\s.*$`)
	skipRE      = regexp.MustCompile(`(?m)^\s*--- SKIP: (\S+)`)
	timeoutRE   = regexp.MustCompile(`(?m)^panic: test timed out after \S+`)
	runningRE   = regexp.MustCompile(`(?m)^\s+running tests:\n((?:\s+\S+ \(.*\)\n)+)`)
	panicRE     = regexp.MustCompile(`(?m)^panic: (.*)$`)
	compileErRE = regexp.MustCompile(`(?m)^(\S+\.go:\d+:\d+: .*)$`)
)

// classify reads go test's output: the first failing test (descending into
// its failing subtests), a build failure, a timeout, a crash.
func classify(o *runOutcome, success bool) {
	out := o.output
	if buildRE.MatchString(out) {
		o.kind, o.by = buildFailed, "the mutated tree does not compile"
		if m := compileErRE.FindStringSubmatch(out); m != nil {
			o.by = m[1]
		}
		return
	}
	if success {
		o.kind = passed
		if !passRE.MatchString(out) {
			o.kind = noTests
			if m := skipRE.FindStringSubmatch(out); m != nil {
				o.by = "every test it ran skipped, " + m[1] + " first"
			}
		}
		return
	}
	if fails := failRE.FindAllStringSubmatch(out, -1); len(fails) > 0 {
		name := fails[0][1]
		for _, f := range fails[1:] {
			if !strings.HasPrefix(f[1], name+"/") {
				break
			}
			name = f[1]
		}
		o.kind, o.by = caughtTest, name
		return
	}
	if timeoutRE.MatchString(out) {
		o.kind, o.by = caughtHang, "test binary timed out"
		if m := runningRE.FindStringSubmatch(out); m != nil {
			var names []string
			for _, l := range strings.Split(strings.TrimSpace(m[1]), "\n") {
				names = append(names, strings.Fields(l)[0])
			}
			o.by += "; running " + strings.Join(names, ", ")
		}
		return
	}
	switch {
	case strings.Contains(out, "found unexpected goroutines"):
		o.kind, o.by = caughtOther, "TestMain (goleak: goroutines left behind)"
	case panicRE.MatchString(out):
		o.kind, o.by = caughtOther, "a crash: panic: "+panicRE.FindStringSubmatch(out)[1]
	default:
		o.kind, o.by = caughtOther, "a failing test binary (no test named)"
	}
}

// line is the mutant's report line.
func (r *result) line() string {
	m := r.m
	prefix := "mutant " + m.name + ": "
	switch {
	case r.stale != nil:
		return r.stale.Error() // "stale mutant NAME: ..."
	case m.equivalent != "":
		return prefix + "equivalent: " + m.equivalent
	case len(r.runs) == 0:
		return prefix + "not run"
	}
	s := r.verdict()
	if m.pending != "" {
		if r.caught() {
			s += " (pending: explorer no longer needed: remove it)"
		} else {
			s = "pending an explorer scenario (" + s + ")"
		}
	}
	return prefix + s
}

// verdict summarises the runs.
func (r *result) verdict() string {
	first := r.runs[0]
	if r.isDefect() {
		for _, o := range r.runs {
			if o.kind == buildFailed || o.kind == noTests {
				return o.describe()
			}
		}
	}
	caught := 0
	var others []string
	for _, o := range r.runs {
		if o.caught() {
			caught++
			if d := o.describe(); d != first.describe() && !slices.Contains(others, d) {
				others = append(others, d)
			}
		}
	}
	switch {
	case caught == len(r.runs):
		s := first.describe()
		if len(r.runs) > 1 {
			s += fmt.Sprintf(" (%d/%d runs", caught, len(r.runs))
			if len(others) > 0 {
				s += "; also " + strings.Join(others, ", ")
			}
			s += ")"
		}
		return s
	case caught == 0:
		return "survived"
	}
	return fmt.Sprintf("survived: caught in only %d of %d runs, by chance (not deterministic)", caught, len(r.runs))
}

func (r *result) caught() bool {
	if len(r.runs) == 0 || r.isDefect() {
		return false
	}
	for _, o := range r.runs {
		if !o.caught() {
			return false
		}
	}
	return true
}

// isDefect: the catalogue is wrong about this mutant (it does not build,
// or its -run matches nothing while it is not pending).
func (r *result) isDefect() bool {
	for _, o := range r.runs {
		if o.kind == buildFailed || (o.kind == noTests && r.m.pending == "") {
			return true
		}
	}
	return false
}

// report prints the summary and returns the exit status.
func report(results []*result, ran []int, wall time.Duration, checkOnly bool) int {
	var stale, defects, survived, pending, equivalent []*result
	caught := 0
	for _, r := range results {
		switch {
		case r.stale != nil:
			stale = append(stale, r)
		case r.m.equivalent != "":
			equivalent = append(equivalent, r)
		case checkOnly:
		case r.isDefect():
			defects = append(defects, r)
		case r.caught():
			caught++
		case r.m.pending != "":
			pending = append(pending, r)
		default:
			survived = append(survived, r)
		}
	}
	fmt.Println()
	if checkOnly {
		for _, r := range stale {
			fmt.Println(r.line())
		}
		fmt.Printf("mutate -check: %d entries, %d stale, %d equivalent\n", len(results), len(stale), len(equivalent))
		if len(stale) > 0 {
			return 1
		}
		return 0
	}
	for _, r := range equivalent {
		fmt.Println(r.line())
	}
	fmt.Printf("mutation score: %d/%d caught (%d equivalent, %d survived)\n",
		caught, len(results), len(equivalent), len(survived))
	list := func(title string, rs []*result) {
		if len(rs) == 0 {
			return
		}
		fmt.Printf("%s (%d):\n", title, len(rs))
		for _, r := range rs {
			fmt.Printf("  %s\n", r.line())
		}
	}
	list("pending an explorer scenario (not failures)", pending)
	list("SURVIVED", survived)
	list("STALE entries (catalogue defects)", stale)
	list("catalogue defects (the mutant does not build, or its -run matches no test)", defects)
	fmt.Printf("mutate: %d mutants run, wall time %v\n", len(ran), wall.Round(time.Second))
	if len(survived)+len(stale)+len(defects) > 0 {
		fmt.Println("FAIL")
		return 1
	}
	fmt.Println("ok")
	return 0
}

// moduleRoot is the nearest directory at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
