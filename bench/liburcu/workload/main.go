//go:build liburcu && linux

// Command workload runs liburcu's own benchmark shape on both sides, for
// two flavours: liburcu-qsbr beside package grace's QSBR flavour (the
// loops of userspace-rcu's tests/benchmark/test_urcu_qsbr.c, written anew),
// and liburcu-memb beside its memb flavour (the loops of
// tests/benchmark/test_urcu.c, built for urcu-memb). liburcu runs in C
// threads, grace in Go; the sides alternate, and it prints reads/s and
// writes/s per placement with the ratios.
//
// The reader: load the pointer and check the value (8, or 0 once
// poisoned), count; in QSBR, report a quiescent state every 1,024 reads;
// in memb, bracket each read with a read-side section (rcu_read_lock,
// rcu_read_unlock; Handle.Lock, Handle.Unlock) and report nothing. The
// writer: a new object holding 8, swap it in, wait for a grace period,
// poison the old one (0) and free it. A reader that sees 0 read an object
// after its grace period: the "bad" column must stay 0.
//
//	go run -tags liburcu ./bench/liburcu/workload                # both flavours, 3 rounds of 3 s per side and placement
//	go run -tags liburcu ./bench/liburcu/workload -flavour memb  # liburcu-memb beside grace.NewMemb only
//	go run -tags liburcu ./bench/liburcu/workload -d 1s -rounds 1
//
// Placements (two CPUs, as on the machine this was written on):
//
//	a: 1 reader on CPU 0, the writer on CPU 1
//	b: readers on CPU 0 and 1, the writer sharing CPU 0
//	c: 2 readers sharing CPU 1, the writer alone on CPU 0
//	t: rcutorture's performance loops, readers on CPU 0 and 1, the updater unpinned
//
// It needs liburcu-dev (liburcu-qsbr and liburcu-memb) and cgo, and two
// allowed CPUs.
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
	perf    bool  // rcutorture's performance loops instead of test_urcu_qsbr's or test_urcu's
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
	which := flag.String("flavour", "both", "flavours to compare: qsbr (liburcu-qsbr beside grace.NewQSBR), memb (liburcu-memb beside grace.NewMemb) or both")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the Go side's part is what it can see) to this file")
	flag.Parse()
	if *which != "both" && *which != "qsbr" && *which != "memb" {
		fmt.Fprintf(os.Stderr, "workload: -flavour %q: want qsbr, memb or both\n", *which)
		os.Exit(2)
	}
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
	failed := false
	for i, f := range flavours {
		if *which != "both" && *which != f.flag {
			continue
		}
		if i > 0 && *which == "both" {
			fmt.Println()
		}
		failed = compare(f, all, torture, *only, *rounds, *d) || failed
	}
	if failed {
		fmt.Println("\nFAILURE: a reader saw a poisoned object")
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// flavour is one of the pairs compared: a library of liburcu's in C, and
// package grace's flavour of the same name in Go.
type flavour struct {
	flag    string // its -flavour value
	name    string // the Go side's column
	title   string // the first line of its tables
	torture string // rcutorture's read-side loop, as the second table names it
	memb    bool   // liburcu-memb and grace.NewMemb, else liburcu-qsbr and grace.NewQSBR
}

var flavours = []*flavour{
	{flag: "qsbr", name: "QSBR", title: "liburcu-qsbr (C) beside grace.NewQSBR (Go) on liburcu's test_urcu_qsbr workload",
		torture: "runs of 1,000 empty read-side sections, then a report"},
	{flag: "memb", name: "memb", title: "liburcu-memb (C) beside grace.NewMemb (Go) on liburcu's test_urcu workload (urcu-memb)",
		torture: "runs of 1,000 read-side sections", memb: true},
}

// compare runs one flavour's placements (those named in only) and prints
// its tables. It reports whether a reader saw a poisoned object.
func compare(f *flavour, all []placement, torture placement, only string, rounds int, d time.Duration) (failed bool) {
	fmt.Printf("%s; %d round(s) of %v per side, alternating; medians\n", f.title, rounds, d)
	if f.memb {
		fmt.Printf("membarrier(2): liburcu-memb %v, grace %v (without it, the read side fences)\n", cHasMembarrier(), goHasMembarrier())
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	n := f.name
	fmt.Fprintf(tw, "placement\tliburcu reads/s\t%s reads/s\tratio\tliburcu writes/s\t%s writes/s\tratio\tliburcu vcsw/write\t%s vcsw/write\tliburcu writer CPU ns/write\t%s writer CPU ns/write\tbad reads\t\n", n, n, n, n)
	for _, p := range all {
		if !strings.Contains(only, p.name) {
			continue
		}
		c, g := both(f, p, rounds, d)
		bad := c.bad + g.bad
		failed = failed || bad != 0
		fmt.Fprintf(tw, "%s: %s\t%s\t%s\t%.2fx\t%s\t%s\t%.2fx\t%.2f\t%.2f\t%.0f\t%.0f\t%d\t\n", p.name, p.desc,
			si(c.reads), si(g.reads), g.reads/c.reads, si(c.writes), si(g.writes), g.writes/max(c.writes, 1e-9),
			c.vcsw, g.vcsw, c.cpu, g.cpu, bad)
	}
	tw.Flush()
	if strings.Contains(only, "t") {
		c, g := both(f, torture, rounds, d)
		fmt.Printf("\nrcutorture's performance shape (%s; synchronize in a loop):\n\n", f.torture)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "placement\tliburcu ns/update\t%s ns/update\tratio\tliburcu ns/read\t%s ns/read\tliburcu vcsw/update\t%s vcsw/update\t\n", n, n, n)
		// ns/read as rcutorture prints it: per reader thread.
		nr := float64(len(torture.readers))
		fmt.Fprintf(tw, "t: %s\t%.0f\t%.0f\t%.2fx\t%.3f\t%.3f\t%.2f\t%.2f\t\n", torture.desc,
			1e9/c.writes, 1e9/g.writes, c.writes/max(g.writes, 1e-9), nr*1e9/c.reads, nr*1e9/g.reads, c.vcsw, g.vcsw)
		tw.Flush()
	}
	return failed
}

// both runs each side rounds times, alternating, and returns their
// medians.
func both(f *flavour, p placement, rounds int, d time.Duration) (c, g summary) {
	var cs, gs []result
	for range rounds {
		c, err := runC(f, p, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		g, err := runGo(f, p, d)
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
