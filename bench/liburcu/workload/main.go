//go:build liburcu && linux

// Command workload runs liburcu-qsbr's own benchmark shape (the loops of
// userspace-rcu's tests/benchmark/test_urcu_qsbr.c, written anew) on both
// sides: liburcu-qsbr in C threads, and the QSBR flavour of package grace in
// Go, alternating the sides, and prints reads/s and writes/s per placement
// with the ratios.
//
// The reader: load the pointer, check the value (8, or 0 once poisoned),
// count, and report a quiescent state every 1,024 reads. The writer: a new
// object holding 8, swap it in, wait for a grace period, poison the old one
// (0) and free it. A reader that sees 0 read an object after its grace
// period: the "bad" column must stay 0.
//
//	go run -tags liburcu ./bench/liburcu/workload            # 3 rounds of 3 s per side and placement
//	go run -tags liburcu ./bench/liburcu/workload -d 1s -rounds 1
//
// Placements (two CPUs, as on the machine this was written on):
//
//	a: 1 reader on CPU 0, the writer on CPU 1
//	b: readers on CPU 0 and 1, the writer sharing CPU 0
//	c: 2 readers sharing CPU 1, the writer alone on CPU 0
//
// It needs liburcu-dev and cgo, and two allowed CPUs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctdefer/ctdefer/host"
)

type placement struct {
	name    string
	desc    string
	readers []int // the CPU of each reader
	writer  int   // the writer's CPU, or -1: unpinned
	perf    bool  // rcutorture's performance loops instead of test_urcu_qsbr's
}

type result struct {
	reads, writes, vcsw, bad uint64
	cpu                      time.Duration // the writer thread's CPU time
	d                        time.Duration
}

func (r result) readsPerSec() float64  { return float64(r.reads) / r.d.Seconds() }
func (r result) writesPerSec() float64 { return float64(r.writes) / r.d.Seconds() }

// vcswPerWrite is the writer thread's voluntary context switches per grace
// period.
func (r result) vcswPerWrite() float64 {
	if r.writes == 0 {
		return 0
	}
	return float64(r.vcsw) / float64(r.writes)
}

func main() {
	d := flag.Duration("d", 3*time.Second, "duration of each run")
	rounds := flag.Int("rounds", 3, "runs per side and placement, alternating C and Go")
	only := flag.String("p", "abct", "placements to run (t: rcutorture's performance shape)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the Go side's part is what it can see) to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	cpus, _ := host.AllowedCPUs()
	if len(cpus) < 2 {
		fmt.Fprintf(os.Stderr, "workload: needs two allowed CPUs, have %v\n", cpus)
		os.Exit(1)
	}
	c0, c1 := cpus[0], cpus[1]
	// Every reader and the writer spin on a locked thread, each holding a
	// P: leave Ps for the rest of the program.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 6))
	all := []placement{
		{"a", fmt.Sprintf("1 reader on CPU %d, writer on CPU %d", c0, c1), []int{c0}, c1, false},
		{"b", fmt.Sprintf("readers on CPU %d and %d, writer sharing CPU %d", c0, c1, c0), []int{c0, c1}, c0, false},
		{"c", fmt.Sprintf("2 readers sharing CPU %d, writer alone on CPU %d", c1, c0), []int{c1, c1}, c0, false},
	}
	torture := placement{"t", fmt.Sprintf("rcutorture perf: readers on CPU %d and %d, updater unpinned", c0, c1), []int{c0, c1}, -1, true}
	fmt.Printf("liburcu-qsbr (C) beside grace.NewQSBR (Go) on liburcu's test_urcu_qsbr workload; %d round(s) of %v per side, alternating; medians\n\n", *rounds, *d)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "placement\tliburcu reads/s\tQSBR reads/s\tratio\tliburcu writes/s\tQSBR writes/s\tratio\tliburcu vcsw/write\tQSBR vcsw/write\tliburcu writer CPU ns/write\tQSBR writer CPU ns/write\tbad reads\t")
	failed := false
	for _, p := range all {
		if !strings.Contains(*only, p.name) {
			continue
		}
		c, g := both(p, *rounds, *d)
		bad := c.bad + g.bad
		failed = failed || bad != 0
		fmt.Fprintf(tw, "%s: %s\t%s\t%s\t%.2fx\t%s\t%s\t%.2fx\t%.2f\t%.2f\t%.0f\t%.0f\t%d\t\n", p.name, p.desc,
			si(c.reads), si(g.reads), g.reads/c.reads, si(c.writes), si(g.writes), g.writes/max(c.writes, 1e-9),
			c.vcsw, g.vcsw, c.cpu, g.cpu, bad)
	}
	tw.Flush()
	if strings.Contains(*only, "t") {
		c, g := both(torture, *rounds, *d)
		fmt.Printf("\nrcutorture's performance shape (runs of 1,000 empty read-side sections, then a report; synchronize in a loop):\n\n")
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "placement\tliburcu ns/update\tQSBR ns/update\tratio\tliburcu ns/read\tQSBR ns/read\tliburcu vcsw/update\tQSBR vcsw/update\t")
		// ns/read as rcutorture prints it: per reader thread.
		nr := float64(len(torture.readers))
		fmt.Fprintf(tw, "t: %s\t%.0f\t%.0f\t%.2fx\t%.3f\t%.3f\t%.2f\t%.2f\t\n", torture.desc,
			1e9/c.writes, 1e9/g.writes, c.writes/max(g.writes, 1e-9), nr*1e9/c.reads, nr*1e9/g.reads, c.vcsw, g.vcsw)
		tw.Flush()
	}
	if failed {
		fmt.Println("\nFAILURE: a reader saw a poisoned object")
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// both runs each side rounds times, alternating, and returns their
// medians.
func both(p placement, rounds int, d time.Duration) (c, g summary) {
	var cs, gs []result
	for range rounds {
		c, err := runC(p, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		g, err := runGo(p, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cs, gs = append(cs, c), append(gs, g)
	}
	return median(cs), median(gs)
}

// cpuPerWrite is the writer thread's CPU time per write, in nanoseconds.
func (r result) cpuPerWrite() float64 {
	if r.writes == 0 {
		return 0
	}
	return float64(r.cpu) / float64(r.writes)
}

// summary is the median of each figure over a side's runs, and the bad
// reads of all of them.
type summary struct {
	reads, writes, vcsw, cpu float64 // per second, per second, per write, ns per write
	bad                      uint64
}

func median(rs []result) summary {
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	s := summary{reads: med(result.readsPerSec), writes: med(result.writesPerSec), vcsw: med(result.vcswPerWrite), cpu: med(result.cpuPerWrite)}
	for _, r := range rs {
		s.bad += r.bad
	}
	return s
}

func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f G", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// threadCPU is the calling thread's time on a CPU, from
// /proc/thread-self/schedstat (0 if it cannot be read).
func threadCPU() time.Duration {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns)
}

// voluntarySwitches is the calling thread's voluntary_ctxt_switches.
func voluntarySwitches() uint64 {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "voluntary_ctxt_switches:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
