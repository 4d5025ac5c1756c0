// Command router shows the QSBR grace-period flavour protecting data that a
// hot loop reads in user mode.
//
// One worker per allowed CPU, pinned, forwards synthetic packets: it loads
// the current routing table once per burst of 64 packets, looks every packet
// up in it while in user mode, then reports a quiescent state
// (grace.Reader.Quiescent: it holds no table there) and polls. A controller
// replaces the table thousands of times a second with
// grace.Pointer.SwapAndRetire; the retire callback reclaims the old table by
// poisoning it, so a worker still using a reclaimed table sees a poisoned
// next hop and counts a poisoned read. The program alternates stretches
// without the controller (the baseline) and with it, and prints the updates,
// grace periods, lookups, poisoned reads and the hot loop's throughput with
// updates against the baseline. It exits with status 1 if any read was
// poisoned.
//
// With -naive it runs the same program on the kernel-stretch flavour
// (grace.New): that flavour counts user mode as a quiescent state, so it
// reclaims tables the workers still hold and poisoned reads appear (how many
// depends on timing). That is the expected failure, and the exit status is
// 0. Adding -debug turns on grace.Options.Debug, whose read-side check makes
// the workers' first Pointer.Load panic with the rule they break; the
// workers recover and print it. (On the QSBR flavour, -debug checks every
// Load and finds nothing to report.) Pointer.Load's check is compiled only
// with the tag ctdefer_debug (or into a race-detector build), so -debug
// needs it:
//
//	go run ./examples/router [-duration 2s] [-rate 5000] [-unpinned] [-naive]
//	go run -tags ctdefer_debug ./examples/router -naive -debug
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

const (
	burst   = 64          // packets looked up per table load, between two reports
	routes  = 1024        // entries per table, indexed by the destination's low bits
	poison  = ^uint32(0)  // a reclaimed table's next hops; live ones are below 16
	slices  = 10          // per phase: see run
	timeout = time.Minute // bound on the shutdown
)

// table is one version of the routing table: a next hop per destination.
// It is immutable once published, until the retire callback poisons it.
type table struct{ hop [routes]uint32 }

func newTable(version uint64) *table {
	t := new(table)
	for i := range t.hop {
		t.hop[i] = uint32(uint64(i)+version) % 16
	}
	return t
}

// reclaim is the retire callback: it stands for freeing the table, and
// poisons it so that a worker still using it notices.
func (t *table) reclaim() {
	for i := range t.hop {
		t.hop[i] = poison
	}
}

type config struct {
	duration time.Duration // baseline plus updates
	rate     int           // table updates per second
	unpinned bool
	naive    bool // the kernel-stretch flavour, with the reads still in user mode
	debug    bool // the flavour's Debug option
}

// worker is one CPU's forwarding loop. Each is allocated on its own and
// padded, so the counter the controller reads is on a line of its own.
type worker struct {
	lookups  atomicx.Uint64 // packets looked up: added once per burst by the worker, loaded by main
	cpu      int
	poisoned uint64 // owner only; read after the worker has ended
	sum      uint32 // the hops, so the lookups are not optimised away
	debugMsg string // the panic of the Debug check, recovered
	_        cpu.CacheLinePad
}

type phase struct {
	lookups uint64
	elapsed time.Duration
}

func (p phase) rate() float64 { return float64(p.lookups) / p.elapsed.Seconds() }

type report struct {
	cfg              config
	cpus             []int
	baseline, loaded phase
	updates          uint64
	stats            grace.Stats
	poisoned         uint64
	debugMsgs        []string // the Debug check's panics, one per worker it stopped
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 2*time.Second, "total run time: half without updates (the baseline), half with them, alternated")
	flag.IntVar(&cfg.rate, "rate", 5000, "table updates per second")
	flag.BoolVar(&cfg.unpinned, "unpinned", runtime.GOOS != "linux", "do not pin the workers (for platforms without affinity)")
	flag.BoolVar(&cfg.naive, "naive", false, "use the kernel-stretch flavour (grace.New), the wrong one for user-mode reads: expect poisoned reads")
	flag.BoolVar(&cfg.debug, "debug", false, "turn on the flavour's Debug read-side check (with -naive: it catches the mistake)")
	flag.Parse()
	rep, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
	if err := rep.verdict(); err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
}

func run(cfg config) (report, error) {
	allowed, _ := host.AllowedCPUs() // off Linux: 0 .. NumCPU-1
	rep := report{cfg: cfg, cpus: allowed}
	if cfg.duration <= 0 || cfg.rate <= 0 {
		return rep, errors.New("-duration and -rate must be positive")
	}
	// Each worker spins on its CPU holding a P; the controller, the
	// reclaimer and the runtime's own goroutines need Ps too, or a grace
	// period would wait for the goroutine that drives it.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), len(rep.cpus)+2))
	d, err := ctdefer.New(ctdefer.Options{CPUs: rep.cpus, Unpinned: cfg.unpinned})
	if err != nil {
		return rep, err
	}
	var f *grace.Domain
	var q *grace.Domain // nil in naive mode: no Reader, no reports
	if cfg.naive {
		f, err = grace.New(d, grace.Options{Debug: cfg.debug})
	} else {
		q, err = grace.NewQSBR(d, grace.Options{Debug: cfg.debug})
		f = q
	}
	if err != nil {
		return rep, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+timeout)
	defer cancel()
	routing := grace.NewPointer(f, newTable(0))

	var stop atomicx.Bool
	var wg sync.WaitGroup
	workers := make([]*worker, len(rep.cpus))
	ready := make(chan error, len(workers))
	for i, n := range rep.cpus {
		w := &worker{cpu: n}
		workers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(d, q, routing, &stop, ready) }()
	}
	stopWorkers := func() {
		stop.Store(true) // store: pairs with the workers' loads once per burst
		wg.Wait()
	}
	for range workers {
		if err := <-ready; err != nil {
			stopWorkers()
			_ = f.Close(ctx)
			_ = d.Close(ctx)
			return rep, fmt.Errorf("%w (run with -unpinned where pinning is impossible)", err)
		}
	}
	lookups := func() (n uint64) {
		for _, w := range workers {
			n += w.lookups.Load() // load: pairs with the worker's Add
		}
		return n
	}

	// The two phases, without updates (the baseline) and with them, are cut
	// into slices and alternated, so that whatever else loads the machine
	// weighs on both alike; a first slice warms the workers up.
	slice := cfg.duration / (2 * slices)
	time.Sleep(slice)
	for i := range 2 * slices {
		t0, n0 := time.Now(), lookups()
		p := &rep.baseline
		if i%2 == 0 {
			time.Sleep(slice)
		} else {
			p = &rep.loaded
			err = rep.control(routing, t0.Add(slice))
		}
		p.lookups += lookups() - n0
		p.elapsed += time.Since(t0)
		if err != nil {
			break
		}
	}

	// Shutdown: the flavour first, while the readers still report, so that
	// the last retired tables are reclaimed after real grace periods; then
	// the workers (each goes offline before it releases its CPU); the
	// ctdefer Domain last.
	err = errors.Join(err, f.Close(ctx))
	rep.stats = f.Stats()
	stopWorkers()
	err = errors.Join(err, d.Close(ctx))
	for _, w := range workers {
		rep.poisoned += w.poisoned
		if w.debugMsg != "" {
			rep.debugMsgs = append(rep.debugMsgs, w.debugMsg)
		}
	}
	return rep, err
}

// control is the controller, until end: it publishes a new table and
// retires the old one at cfg.rate per second of the updates phase, paced by
// the clock (a late wake-up catches up with a few updates in a row).
func (rep *report) control(routing *grace.Pointer[table], end time.Time) error {
	start, base := time.Now(), rep.loaded.elapsed
	for now := start; now.Before(end); now = time.Now() {
		due := uint64((base + now.Sub(start)).Seconds() * float64(rep.cfg.rate))
		for ; rep.updates < due; rep.updates++ {
			if _, err := routing.SwapAndRetire(newTable(rep.updates+1), (*table).reclaim); err != nil {
				return err
			}
		}
		time.Sleep(time.Second / time.Duration(rep.cfg.rate))
	}
	return nil
}

// run is the worker's goroutine: claim the CPU, register as a reader of q
// (unless naive), forward packets until stop, go offline, release.
func (w *worker) run(d *ctdefer.Domain, q *grace.Domain, routing *grace.Pointer[table], stop *atomicx.Bool, ready chan<- error) {
	c, err := d.Claim(w.cpu)
	ready <- err
	if err != nil {
		return
	}
	defer c.Release()
	var r *grace.Reader
	if q != nil {
		r = q.Reader(c) // online: the worker may hold tables from here on
		defer r.Offline()
	}
	w.forward(c, r, routing, stop)
}

// forward is the hot loop, in user mode. A table is held from its Load to
// the next Quiescent, never across it.
func (w *worker) forward(c *ctdefer.CPU, r *grace.Reader, routing *grace.Pointer[table], stop *atomicx.Bool) {
	defer func() {
		// The Debug read-side check panics in Load ("grace: Pointer.Load:
		// ..."); anything else is a real failure.
		if v := recover(); v != nil {
			s, ok := v.(string)
			if !ok || !strings.HasPrefix(s, "grace: ") {
				panic(v)
			}
			w.debugMsg = s
		}
	}()
	c.UserEnter()
	defer c.KernelEnter()
	x := uint64(w.cpu+1) * 0x9e3779b97f4a7c15 // the packets' destinations: xorshift
	for !stop.Load() {                        // load: pairs with the store in run
		t := routing.Load()
		for range burst {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			hop := t.hop[x%routes]
			if hop == poison {
				w.poisoned++
			}
			w.sum += hop
		}
		w.lookups.Add(burst) // RMW: statistics, pairs with main's loads
		if r != nil {
			r.Quiescent() // the table is not held here
		}
		c.Poll()
	}
}

func (rep report) print(out io.Writer) {
	name := "QSBR (grace.NewQSBR)"
	if rep.cfg.naive {
		name = "kernel-stretch (grace.New) read in user mode: the wrong flavour"
	}
	fmt.Fprintf(out, "flavour: %s; Debug %v\nworkers: %d on CPUs %v (unpinned %v), GOMAXPROCS %d; the controller shares their CPUs\n",
		name, rep.cfg.debug, len(rep.cpus), rep.cpus, rep.cfg.unpinned, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "updates: %d (%.0f/s); grace periods: %d; tables retired %d, reclaimed %d; waiter sleeps %d, wake-ups %d\n",
		rep.updates, float64(rep.updates)/rep.loaded.elapsed.Seconds(), rep.stats.GracePeriods,
		rep.stats.Retired, rep.stats.Reclaimed, rep.stats.Sleeps, rep.stats.Wakeups)
	fmt.Fprintf(out, "lookups: %d; poisoned reads: %d\n", rep.baseline.lookups+rep.loaded.lookups, rep.poisoned)
	if rep.baseline.lookups > 0 {
		fmt.Fprintf(out, "hot loop: %.1f M lookups/s without updates, %.1f M/s with them: %.3fx (%v each)\n",
			rep.baseline.rate()/1e6, rep.loaded.rate()/1e6, rep.loaded.rate()/rep.baseline.rate(), rep.loaded.elapsed.Round(time.Millisecond))
	}
	for _, m := range rep.debugMsgs {
		fmt.Fprintf(out, "Debug stopped a worker at its first Load: %s\n", m)
	}
	switch {
	case !rep.cfg.naive:
		if rep.verdict() == nil {
			fmt.Fprintln(out, "SUCCESS")
		}
	case len(rep.debugMsgs) > 0:
		fmt.Fprintln(out, "EXPECTED FAILURE (-naive): the kernel-stretch flavour does not protect user-mode reads, and Debug says so")
	case rep.poisoned > 0:
		fmt.Fprintln(out, "EXPECTED FAILURE (-naive): the kernel-stretch flavour counts user mode as quiescent, so it reclaimed tables still in use")
	default:
		fmt.Fprintln(out, "no poisoned read this time, by luck: nothing protected the reads (run longer, or add -debug)")
	}
}

// verdict is the run's failure, if any: in naive mode, none.
func (rep report) verdict() error {
	switch {
	case rep.cfg.naive:
		return nil
	case rep.poisoned > 0:
		return fmt.Errorf("FAILURE: %d poisoned reads: a table was reclaimed while a worker held it", rep.poisoned)
	case rep.stats.Retired != rep.stats.Reclaimed:
		return fmt.Errorf("FAILURE: %d retired tables never reclaimed", rep.stats.Retired-rep.stats.Reclaimed)
	}
	return nil
}
