// Command tour is the README's tour, kept compiling: a thread-per-core
// service with one pinned worker per CPU, a configuration pushed to every
// worker without interrupting it, a routing table swapped under grace-period
// reclamation, and a shutdown in the right order.
//
//	go run ./examples/tour
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/host"
)

type config struct{ burst int }   // pushed to every worker
type table struct{ routes []int } // read by the workers, freed after a grace period

// worker is the state one CPU's owner keeps to itself: no atomics, no locks.
type worker struct{ burst, packets, routed int }

func main() {
	// 1. CPUs from the process's allowed set, never hard-coded numbers: the
	// first stays with the controller, the reclaimer and the Go runtime.
	cpus, _ := host.AllowedCPUs() // off Linux: 0 .. NumCPU-1
	if len(cpus) > 1 {
		cpus = cpus[1:]
	}
	// Each spinning worker holds a P: leave GOMAXPROCS headroom for the rest.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), len(cpus)+2))
	opts := ctdefer.Options{CPUs: cpus, Logger: slog.Default()}
	d, err := ctdefer.New(opts)
	if errors.Is(err, ctdefer.ErrNotSupported) { // not Linux: the same code, unpinned
		opts.Unpinned = true
		d, err = ctdefer.New(opts)
	}
	if err != nil {
		log.Fatal(err)
	}

	// 2. Before the first Claim: the grace Domain and every work, both fixed
	// from then on. Pointers publish data to readers in kernel mode.
	g, err := grace.New(d, grace.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cfg := grace.NewPointer(g, &config{burst: 64})
	routes := grace.NewPointer(g, &table{routes: []int{1, 2, 3}})
	w := make([]worker, slices.Max(cpus)+1) // by CPU number; w[cpu] is its owner's
	apply, err := d.Register("apply-config", func(cpu int) {
		w[cpu].burst = cfg.Load().burst // runs on cpu's owner, in kernel mode
	})
	if err != nil {
		log.Fatal(err)
	}

	// 3. One worker per CPU. Go claims the CPU on a thread of its own, runs
	// the loop in kernel mode, and releases the CPU however the loop ends.
	for _, cpu := range cpus {
		err := d.Go(cpu, func(c *ctdefer.CPU) {
			me := &w[cpu]
			me.burst = cfg.Load().burst
			for !c.Closing() {
				// Kernel mode: grace's read side. A table loaded here stays
				// valid until this CPU's next UserEnter.
				t := routes.Load()
				me.routed += t.routes[me.packets%len(t.routes)]
				c.UserEnter()
				// User mode: the hot loop. Deferred work waits for the next
				// KernelEnter, and grace protects nothing read here: use
				// only the worker's own state.
				for range me.burst {
					me.packets++
				}
				c.Poll()        // IPIs that raced with UserEnter
				c.KernelEnter() // runs the deferred work: apply-config
			}
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	// 4. The controller: push a configuration to every worker, and replace
	// the table, freeing the old one once no worker can still hold it.
	for v := 2; v <= 200; v++ {
		cfg.Store(&config{burst: 64 + v})
		if _, err := d.DeferAll(apply); err != nil {
			log.Print(err) // a *ctdefer.BroadcastError naming the CPUs that failed
		}
		next := &table{routes: []int{v, v + 1, v + 2}}
		if _, err := routes.SwapAndRetire(next, func(old *table) { old.routes = nil }); err != nil {
			log.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.DeferWaitAll(ctx, apply); err != nil { // every worker has the last one
		log.Fatal(err)
	}

	// 5. Shutdown: grace first, while the workers still make the transitions
	// its last grace periods wait for; then the Domain, which ends the
	// workers' loops (c.Closing) and waits for their release.
	if err := g.Close(ctx); err != nil {
		log.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		log.Fatal(err)
	}
	s := d.TotalStats()
	fmt.Printf("workers on CPUs %v: %d deferred, %d IPIs; %d tables freed\n",
		cpus, s.Deferred, s.IPIs, g.Stats().Reclaimed)
}
