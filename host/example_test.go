package host_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
)

// Workers pick their CPUs from the allowed set instead of hard-coding
// numbers that a smaller machine (or taskset -c 0) does not have.
func ExampleAllowedCPUs() {
	cpus, err := host.AllowedCPUs() // off Linux: 0 .. NumCPU-1, and why
	pinned := err == nil
	fmt.Println("sorted:", slices.IsSorted(cpus))
	// One worker per allowed CPU but the first, which the controller and
	// the rest of the process keep (GOMAXPROCS headroom, see CheckHeadroom).
	workers := cpus[min(1, len(cpus)-1):]
	d, err := ctdefer.New(ctdefer.Options{CPUs: workers, Unpinned: !pinned || runtime.GOOS != "linux"})
	if err != nil {
		panic(err)
	}
	fmt.Println("domain is the workers' CPUs:", slices.Equal(d.CPUs(), workers))
	_ = d.Close(context.Background())
	// Output:
	// sorted: true
	// domain is the workers' CPUs: true
}

// Isolate keeps the rest of the process off the CPUs its workers will
// claim; Restore gives the threads their masks back. (Not run: it needs
// Linux and a CPU 3.)
func ExampleIsolate() {
	iso, err := host.Isolate(3)
	if err != nil {
		fmt.Println(err) // host.ErrNotAllowed, ctdefer.ErrNotSupported, an errno
		return
	}
	defer func() { _ = iso.Restore() }()
	fmt.Println("moved", iso.Threads(), "threads off CPU 3")
	// ... claim CPU 3 and run the hot loop ...
}
