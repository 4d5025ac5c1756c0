// Command mmapserve shows the memb grace-period flavour (grace.NewMemb)
// protecting memory-mapped files that many goroutines read: the shape of a
// server that serves files from mmap'd segments while a writer replaces
// them (a static file server, a log-structured store that compacts its
// segments, a model server that reloads its weights).
//
// Reader goroutines, any number and unpinned, bracket each request with a
// Handle's Lock and Unlock: they load the current mapping of a file slot
// and read it (every byte of a random 4 KiB window, which must all hold
// the file's generation). A writer replaces the files: it writes a new
// generation to a new file, maps it, publishes the mapping with
// Pointer.Swap and retires the old one, whose callback munmaps it only
// after a grace period, once no reader can be inside a section that loaded
// it.
//
// Readers run with debug.SetPanicOnFault, so a read of an unmapped page
// is counted (faults) rather than a crash; a read of a page the kernel
// reused for a newer mapping shows the wrong generation (torn). The
// report prints both: 0 and 0 is the point. -naive munmaps at once,
// without waiting for a grace period, to show what that costs.
//
// Linux only (mmap, munmap, membarrier); elsewhere it says so and exits.
//
//	go run ./examples/mmapserve -d 2s -readers 64
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ctdefer/ctdefer/grace"
)

type config struct {
	duration time.Duration
	readers  int
	slots    int // files served at once
	size     int // bytes per file
	naive    bool
}

// report is what a run counted.
type report struct {
	cfg                 config
	reads, faults, torn uint64
	replaced, unmapped  uint64
	stats               grace.Stats
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "d", 2*time.Second, "how long to run")
	flag.IntVar(&cfg.readers, "readers", 64, "reader goroutines")
	flag.IntVar(&cfg.slots, "files", 4, "files served at once")
	flag.IntVar(&cfg.size, "size", 64<<10, "bytes per file")
	flag.BoolVar(&cfg.naive, "naive", false, "munmap at once, without a grace period: expect faults or torn reads")
	flag.Parse()
	rep, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmapserve:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
	if !cfg.naive && (rep.faults != 0 || rep.torn != 0) {
		os.Exit(1)
	}
}

func (r *report) print(w *os.File) {
	mode := "memb grace periods"
	if r.cfg.naive {
		mode = "naive: munmap at once"
	}
	fmt.Fprintf(w, "mmapserve (%s): %v, %d readers, %d files of %d bytes; membarrier %v\n",
		mode, r.cfg.duration, r.cfg.readers, r.cfg.slots, r.cfg.size, r.stats.Membarrier)
	fmt.Fprintf(w, "  files replaced %d, old mappings unmapped %d, grace periods %d\n", r.replaced, r.unmapped, r.stats.GracePeriods)
	fmt.Fprintf(w, "  reads %d: of an unmapped page (faults) %d, of a reused page (torn) %d\n", r.reads, r.faults, r.torn)
}
