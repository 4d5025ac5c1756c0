// Command ctdefer answers an operator's two questions about a machine that
// is to run pinned workers with package ctdefer: is it set up so that the
// workers will not be disturbed (doctor), and how much does each way of
// reaching a worker disturb it, here (bench).
//
//	ctdefer doctor [-cpus 2-3] [-workers 2] [-noise 1s] [-runtime 3s] [-threshold 10µs] [-json] [-strict]
//	ctdefer bench [-quick] [-out dir] [-cpus sender,target] [-format svg|png] [-progress=false]
//
// doctor prints one row per check (ok / warn / fail / unknown, what was
// found, how to fix); a file it cannot read is "unknown", never an error.
// Its Go runtime checks run a pinned loop in child processes, once as set
// up and once per fix (asyncpreemptoff, GOGC/GOMEMLIMIT, GOMAXPROCS), and
// report the signals, context switches, GC cycles and gaps each saw. It
// exits 1 when a check failed, and with -strict when one warned too.
//
// bench runs the side-by-side workloads in one process and writes
// report.md, results.json and the plots into -out. -quick takes under a
// minute; the default run a few minutes.
//
// The command is a module of its own (its plotting and progress-bar
// dependencies stay out of the library's module graph). From a clone of the
// repository, whose go.work builds it against the clone:
//
//	go run -C cmd/ctdefer . doctor
//
// "go run github.com/ctdefer/ctdefer/cmd/ctdefer@version doctor" will work
// for a released version (a cmd/ctdefer/vX.Y.Z tag; its go.mod has no
// replace directive).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/doctor"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: ctdefer <command> [flags]

commands:
  doctor   check this host for pinned workers on isolated CPUs
  bench    measure deferral against its alternatives on this host

Run "ctdefer <command> -h" for the flags of a command.
`

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "doctor":
		err = runDoctor(args[1:], stdout, stderr)
	case "bench":
		err = runBench(args[1:], stdout, stderr)
	case doctor.ChildCommand: // doctor's runtime scenarios re-run this program
		err = doctor.RunChild(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ctdefer: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ex exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ex):
		return int(ex)
	}
	fmt.Fprintf(stderr, "ctdefer %s: %v\n", args[0], err)
	return 1
}

// exitError is an exit status without a message (the command has said
// what it had to).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
