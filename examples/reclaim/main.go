// Command reclaim shows safe memory reclamation of a published table with
// package grace.
//
// One reader per CPU but one (the updater's housekeeping CPU: the isolated-
// CPU layout ctdefer is for), pinned, looks keys up in the current routing
// table inside its kernel stretches (the read-side critical sections: no
// lock; the atomics are the pointer load and this demo's freed check),
// holding the table across poll points and reporting at Checkpoint only
// between lookups. An updater publishes a new
// table at a fixed rate and retires the old one: grace.Retire frees it
// (poisons it, here) once no reader can still hold it. Every tenth update
// uses Synchronize instead, to measure the grace-period latency.
//
// It prints the counts, the grace-period latency and the reclamation
// statistics, and exits with status 1 if any reader saw a freed table.
//
//	go run ./examples/reclaim [-duration 2s] [-rate 20000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// table is a published routing table. freed is set when it is reclaimed; a
// reader that sees it set has used freed memory.
type table struct {
	version uint64
	routes  []uint64
	freed   atomicx.Bool
}

func newTable(version uint64) *table {
	t := &table{version: version, routes: make([]uint64, 64)}
	for i := range t.routes {
		t.routes[i] = version
	}
	return t
}

func main() {
	duration := flag.Duration("duration", 2*time.Second, "how long to run")
	rate := flag.Int("rate", 20000, "table updates per second")
	flag.Parse()
	if err := run(*duration, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "reclaim:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, rate int) error {
	// Readers spin on every CPU; the updater and the reclaimer need Ps too.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))
	unpinned := runtime.GOOS != "linux"
	probe, err := ctdefer.New(ctdefer.Options{Unpinned: unpinned})
	if err != nil {
		return err
	}
	cpus := probe.CPUs()
	if err := probe.Close(context.Background()); err != nil {
		return err
	}
	// Leave one CPU to the updater, the reclaimer and the runtime: with a
	// spinning reader pinned on every CPU they would get only the OS's
	// leftovers, and grace periods would wait for the updater, not for the
	// readers.
	if len(cpus) > 1 {
		cpus = cpus[1:]
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: unpinned})
	if err != nil {
		return err
	}
	g, err := grace.New(d, grace.Options{NudgeAfter: 200 * time.Microsecond})
	if err != nil {
		return err
	}
	var cur atomicx.Pointer[table]
	cur.Store(newTable(0))

	var stop atomicx.Bool
	var lookups, stale, useAfterFree atomicx.Uint64
	var wg sync.WaitGroup
	claimed := make(chan error, len(d.CPUs()))
	for _, cpu := range d.CPUs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Claim(cpu)
			claimed <- err
			if err != nil {
				return
			}
			defer c.Release()
			var n, old, bad uint64
			for i := 0; !stop.Load(); i++ {
				// A kernel stretch: look up a batch of keys in one table.
				t := cur.Load()
				for k := range 16 {
					if t.routes[(i+k)%len(t.routes)] != t.version || t.freed.Load() {
						bad++
					}
					c.Poll() // a poll point: the table is still held
					n++
				}
				if t.version != cur.Load().version {
					old++ // a replaced table, legitimately still in use
				}
				if i%8 == 0 {
					c.UserEnter() // user mode: the table is not held
					c.KernelEnter()
				} else {
					g.Checkpoint(c) // the table is not held here either
				}
			}
			lookups.Add(n)
			stale.Add(old)
			useAfterFree.Add(bad)
		}()
	}
	for range d.CPUs() {
		if err := <-claimed; err != nil {
			stop.Store(true)
			wg.Wait()
			return err
		}
	}

	var lat []time.Duration
	var updates uint64
	ctx, cancel := context.WithTimeout(context.Background(), duration+10*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		<-tick.C
		updates++
		old := cur.Swap(newTable(updates))
		if updates%10 == 0 {
			start := time.Now()
			if err := g.Synchronize(ctx); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			free(old)
			continue
		}
		if err := g.Retire(func() { free(old) }); err != nil {
			return err
		}
	}
	if err := g.Close(ctx); err != nil { // runs every retired free
		return err
	}
	st := g.Stats()
	stop.Store(true)
	wg.Wait()
	if err := d.Close(ctx); err != nil {
		return err
	}

	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fmt.Printf("readers: %d CPUs, %d lookups, %d stretches on a replaced table (legitimate)\n",
		len(d.CPUs()), lookups.Load(), stale.Load())
	fmt.Printf("updater: %d tables published, %d retired, %d reclaimed, %d via Synchronize\n",
		updates, st.Retired, st.Reclaimed, len(lat))
	fmt.Printf("grace periods: %d (nudges %d, reports at Checkpoint %d)\n", st.GracePeriods, st.Nudges, st.Reports)
	fmt.Printf("Synchronize latency: p50 %v, p99 %v, max %v\n", pct(0.5), pct(0.99), pct(1))
	fmt.Printf("use-after-free: %d\n", useAfterFree.Load())
	if n := useAfterFree.Load(); n != 0 {
		return fmt.Errorf("FAILURE: %d reads of freed tables", n)
	}
	if st.Retired != st.Reclaimed {
		return fmt.Errorf("FAILURE: %d retired tables never reclaimed", st.Retired-st.Reclaimed)
	}
	fmt.Println("SUCCESS")
	return nil
}

// free reclaims a table: here it poisons it, so that a late reader notices.
func free(t *table) {
	t.freed.Store(true)
	for i := range t.routes {
		t.routes[i] = ^uint64(0)
	}
}
