// Package cpuflag chooses the CPUs an example runs on: those named by its
// -cpus flag, or the first allowed ones.
package cpuflag

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ctdefer/ctdefer"
)

// Choose parses list ("0,1"; empty: the first n CPUs of the process's
// allowed set) and returns the CPUs. With unpinned, the allowed set is
// 0 .. NumCPU-1. It fails with a message that says how to proceed when the
// allowed set cannot be read (pinning needs Linux) or a number is malformed.
func Choose(list string, n int, unpinned bool) (cpus, allowed []int, err error) {
	probe, err := ctdefer.New(ctdefer.Options{Unpinned: unpinned})
	if err != nil {
		return nil, nil, fmt.Errorf("%w\n(pinning needs Linux; try -unpinned)", err)
	}
	allowed = probe.CPUs()
	_ = probe.Close(context.Background())
	if list == "" {
		return allowed[:min(n, len(allowed))], allowed, nil
	}
	for _, f := range strings.Split(list, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, allowed, fmt.Errorf("-cpus %q: %v", list, err)
		}
		cpus = append(cpus, c)
	}
	return cpus, allowed, nil
}
