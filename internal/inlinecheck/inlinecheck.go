// Package inlinecheck builds a probe package and returns the compiler's
// report, for the tests that check the hot paths' inlining and code
// (TestIntendedInlining in the module root and in package grace, as the Go
// runtime's own test of the same name does).
package inlinecheck

import (
	"os"
	"os/exec"
)

// Build runs "go build -gcflags=<gcflags> -o /dev/null <pkg>" for
// linux/amd64 whatever the host (GOARCH=386 runs of the tests included):
// the decisions the tests check are amd64's, where 64-bit atomics are
// single instructions; on 386 a 64-bit atomic load is a call, and nothing
// that holds one inlines the same way. It returns the combined output.
//
// Under the mutation harness (go run ./internal/cmd/mutate), which compiles
// each mutant through go test -overlay, the environment variable OverlayEnv
// names that overlay file, and Build passes it on: the probe is then built
// from the mutated code too.
func Build(gcflags, pkg string) ([]byte, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-gcflags=" + gcflags, "-o", os.DevNull}
	if o := os.Getenv(OverlayEnv); o != "" {
		args = append(args, "-overlay="+o)
	}
	cmd := exec.Command(goCmd, append(args, pkg)...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

// OverlayEnv is the environment variable through which the mutation
// harness hands its -overlay file to Build.
const OverlayEnv = "CTDEFER_MUTANT_OVERLAY"
