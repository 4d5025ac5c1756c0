// Command lazytlb shows what lazy TLB shootdowns buy, policy by policy.
//
// A table (the address space) is held by workers pinned one per CPU. Each
// worker caches its own copy of the table (its "TLB") and reads it in a
// user-mode loop; some workers spend most of their time lazy (running other
// work with the table still loaded), some mostly use it. A controller
// updates the table and shoots the copies down after each update. For each
// policy (lazy, eager, flush-on-switch) the program prints the updates, the
// IPIs sent and skipped, the flushes by kind, the reads, and the stale
// reads: reads of a copy older than an update whose shootdown had returned.
// It exits non-zero if any stale read was observed.
//
// A program that uses package lazytlb gets the lazy design. The two
// baselines it is compared with here are internal to this module
// (internal/lazytlbsim), selected by withPolicy below.
//
//	go run ./examples/lazytlb [-duration 1s] [-interval 100us] [-cpus 0,1] [-unpinned]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/examples/internal/cpuflag"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/lazytlb"
)

const entries = 64

type config struct {
	duration time.Duration
	interval time.Duration
	cpus     []int
	unpinned bool
}

// table is the shared structure: entries and the version they were written
// at. Only the controller writes it.
type table struct {
	version atomicx.Uint64 // bumped after each update, before the shootdown; first: 8-aligned on 386
	mu      sync.Mutex
	entries [entries]uint64
}

// snapshot copies the table (a "page walk" filling a TLB).
func (t *table) snapshot(dst *cache) {
	t.mu.Lock()
	dst.entries = t.entries
	dst.version = t.version.Load()
	t.mu.Unlock()
}

// cache is one worker's private copy. Owner only (the flush callback runs on
// the owner too).
type cache struct {
	entries [entries]uint64
	version uint64
	_       [64]byte
}

type result struct {
	policy  lazytlbsim.Policy
	updates uint64
	stats   lazytlb.Stats
	reads   uint64
	stale   uint64
	first   string
}

func main() {
	var cfg config
	var cpuList string
	flag.DurationVar(&cfg.duration, "duration", time.Second, "how long each policy runs")
	flag.DurationVar(&cfg.interval, "interval", 100*time.Microsecond, "pause between the controller's updates")
	flag.StringVar(&cpuList, "cpus", "", "worker CPUs, comma-separated (default: the first two allowed)")
	flag.BoolVar(&cfg.unpinned, "unpinned", false, "do not pin the workers (for platforms without affinity)")
	flag.Parse()
	// The pinned workers spin, each holding a P: leave Ps for the
	// controller and the runtime.
	if runtime.GOMAXPROCS(0) < 6 {
		runtime.GOMAXPROCS(6)
	}
	if err := run(cfg, cpuList); err != nil {
		fmt.Fprintln(os.Stderr, "lazytlb:", err)
		os.Exit(1)
	}
}

func run(cfg config, cpuList string) error {
	if cfg.duration <= 0 || cfg.interval < 0 {
		return errors.New("-duration must be positive and -interval not negative")
	}
	cpus, _, err := cpuflag.Choose(cpuList, 2, cfg.unpinned)
	if err != nil {
		return err
	}
	cfg.cpus = cpus
	fmt.Printf("workers on CPUs %v (worker 0 mostly active, the others mostly lazy), %v per policy, an update every %v\n\n",
		cfg.cpus, cfg.duration, cfg.interval)

	var results []result
	for _, p := range []lazytlbsim.Policy{lazytlbsim.PolicyLazy, lazytlbsim.PolicyEager, lazytlbsim.PolicyFlushOnSwitch} {
		r, err := runPolicy(cfg, p)
		if err != nil {
			return fmt.Errorf("policy %s: %w", p, err)
		}
		results = append(results, r)
	}
	print(results)
	for _, r := range results {
		if r.stale != 0 {
			return fmt.Errorf("policy %s: %d stale reads; first: %s", r.policy, r.stale, r.first)
		}
	}
	fmt.Println("\nno stale read observed under any policy")
	return nil
}

// withPolicy returns opts set to follow p: the lazy design, or a baseline.
func withPolicy(p lazytlbsim.Policy, opts lazytlb.Options) lazytlb.Options {
	return lazytlbsim.WithPolicy(opts, p).(lazytlb.Options)
}

func runPolicy(cfg config, p lazytlbsim.Policy) (result, error) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: cfg.cpus, Unpinned: cfg.unpinned, IPITimeout: 5 * time.Second})
	if err != nil {
		return result{}, err
	}
	defer d.Close(context.Background())

	var tab table
	caches := make([]cache, len(cfg.cpus))
	slot := map[int]int{}
	for i, c := range cfg.cpus {
		slot[c] = i
	}
	tlb, err := lazytlb.New(d, withPolicy(p, lazytlb.Options{Flush: func(cpu int, _ *lazytlb.MM, _ uint64) {
		tab.snapshot(&caches[slot[cpu]])
	}}))
	if err != nil {
		return result{}, err
	}
	mm := tlb.NewMM("table")

	var completed atomicx.Uint64 // the newest version whose shootdown returned
	var reads, stale atomicx.Uint64
	var firstStale atomicx.Pointer[string]
	var stop atomicx.Bool
	var wg sync.WaitGroup
	claimed := make(chan error, len(cfg.cpus))
	for i, n := range cfg.cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Claim(n)
			if err != nil {
				var errno syscall.Errno // any other affinity failure
				if errors.Is(err, host.ErrNotAllowed) || errors.Is(err, ctdefer.ErrNotSupported) || errors.As(err, &errno) {
					err = fmt.Errorf("cannot pin a worker to CPU %d: %w (choose allowed CPUs with -cpus, or run with -unpinned)", n, err)
				}
				claimed <- err
				return
			}
			defer c.Release()
			claimed <- nil
			tc, _ := tlb.Attach(c)
			own := &caches[i]
			read := func() {
				done := completed.Load() // first: it only grows
				v := own.version
				_ = own.entries[int(v)%entries]
				reads.Add(1)
				if v < done && stale.Add(1) == 1 {
					s := fmt.Sprintf("worker on CPU %d read version %d after the shootdown of version %d returned", n, v, done)
					firstStale.Store(&s)
				}
			}
			active, lazy := 200, 20 // worker 0: mostly active
			if i > 0 {
				active, lazy = 20, 200 // the others: mostly lazy
			}
			for !stop.Load() {
				tc.SwitchTo(mm) // a task using the table is scheduled
				c.UserEnter()
				for range active {
					read()
					c.Poll() // a flush IPI interrupts the loop here
				}
				c.KernelEnter()
				tc.EnterLazy() // other work, table still loaded
				for range lazy {
					c.Poll()
				}
			}
			tc.Leave()
		}()
	}
	for range cfg.cpus {
		if err := <-claimed; err != nil {
			stop.Store(true)
			wg.Wait()
			return result{}, err
		}
	}

	var updates uint64
	ctx := context.Background()
	deadline := time.Now().Add(cfg.duration)
	for time.Now().Before(deadline) {
		tab.mu.Lock()
		v := tab.version.Load() + 1
		tab.entries[v%entries] = v
		tab.version.Store(v)
		tab.mu.Unlock()
		if _, err := tlb.Shootdown(ctx, mm); err != nil {
			stop.Store(true)
			wg.Wait()
			return result{}, err
		}
		completed.Store(v)
		updates++
		if cfg.interval > 0 {
			time.Sleep(cfg.interval)
		}
	}
	stop.Store(true)
	wg.Wait()
	r := result{policy: p, updates: updates, stats: tlb.Stats(), reads: reads.Load(), stale: stale.Load()}
	if s := firstStale.Load(); s != nil {
		r.first = *s
	}
	return r, nil
}

func print(results []result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "policy\tupdates\tIPIs sent\tskipped\t(marked\talready\tlazy)\tflushes: join\tswitch\tipi\treads\tstale reads\t")
	for _, r := range results {
		s := r.stats
		skipped := s.Marked + s.AlreadyMarked + s.SkippedLazy + s.Left // CPUs not interrupted
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			r.policy, r.updates, s.IPIs, skipped, s.Marked, s.AlreadyMarked, s.SkippedLazy,
			s.JoinFlushes, s.SwitchFlushes, s.IPIFlushes, r.reads, r.stale)
	}
	w.Flush()
}
