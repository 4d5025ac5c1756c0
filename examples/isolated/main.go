// Command isolated shows what deferral buys an isolated hot loop.
//
// A hot loop is pinned to one CPU and runs in user mode, entering the kernel
// for housekeeping every few hundred microseconds; a controller pinned to
// another CPU pushes configuration-generation bumps to it at a fixed rate and
// waits for each to be applied. The program runs three modes:
//
//   - deferral: bumps sent while the loop is in user mode are deferred to its
//     next kernel entry (one compare-and-swap, the loop never notices);
//   - always-ipi: every bump is an IPI, handled at the loop's next poll point,
//     in user mode (the CPU is claimed with ctdefer.AlwaysIPI);
//   - no-senders: the controller sends nothing, the undisturbed baseline.
//
// For each mode it prints the items sent, how they were delivered, whether
// each was applied exactly once, and the hot loop's iteration latency.
//
//	go run ./examples/isolated [-duration 5s] [-rate 2000] [-cpus 0,1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/examples/internal/cpuflag"
	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/stats"
)

type config struct {
	duration   time.Duration
	rate       int
	entryEvery time.Duration
	cpus       []int
	unpinned   bool
}

type result struct {
	mode     string
	sent     uint64
	deferred uint64 // deliveries, as Defer reported them
	ipis     uint64
	stolen   time.Duration // hot-loop time spent handling IPIs
	stats    stats.CPU
	verified bool
	problem  string
	lat      []time.Duration // p50, p99, p99.9, p99.99, max
	iters    int
}

func main() {
	var cfg config
	var cpuList string
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long each mode runs")
	flag.IntVar(&cfg.rate, "rate", 2000, "bumps per second sent by the controller")
	flag.DurationVar(&cfg.entryEvery, "entry-every", 100*time.Microsecond, "how often the hot loop enters the kernel")
	flag.StringVar(&cpuList, "cpus", "", "two CPUs: hot loop,controller (default: the first two allowed)")
	flag.BoolVar(&cfg.unpinned, "unpinned", false, "do not pin (for machines where pinning is impossible)")
	flag.Parse()
	// Two pinned goroutines spin on their CPUs, each holding a P; the
	// runtime (timers, GC workers) needs Ps beyond those.
	if runtime.GOMAXPROCS(0) < 4 {
		runtime.GOMAXPROCS(4)
	}
	if err := run(cfg, cpuList); err != nil {
		fmt.Fprintln(os.Stderr, "isolated:", err)
		os.Exit(1)
	}
}

func run(cfg config, cpuList string) error {
	if cfg.rate <= 0 || cfg.duration <= 0 || cfg.entryEvery <= 0 {
		return errors.New("-rate, -duration and -entry-every must be positive")
	}
	cpus, allowed, err := cpuflag.Choose(cpuList, 2, cfg.unpinned)
	if err != nil {
		return err
	}
	cfg.cpus = cpus
	if len(cfg.cpus) != 2 || cfg.cpus[0] == cfg.cpus[1] {
		return fmt.Errorf("need two distinct CPUs, have %v (allowed: %v)", cfg.cpus, allowed)
	}
	// Keep the rest of the process (runtime threads, the controller's
	// helpers) off the hot loop's CPU, as isolcpus would.
	if !cfg.unpinned {
		iso, err := host.Isolate(cfg.cpus[0])
		if err != nil {
			return fmt.Errorf("isolating CPU %d: %w", cfg.cpus[0], err)
		}
		defer iso.Restore()
		fmt.Printf("isolated CPU %d: moved %d threads off it\n", cfg.cpus[0], iso.Threads())
	}
	fmt.Printf("hot loop on CPU %d, controller on CPU %d, %v per mode, %d bumps/s, kernel entry every %v, GOMAXPROCS=%d\n\n",
		cfg.cpus[0], cfg.cpus[1], cfg.duration, cfg.rate, cfg.entryEvery, runtime.GOMAXPROCS(0))

	var results []result
	for _, mode := range []string{"deferral", "always-ipi", "no-senders"} {
		r, err := runMode(cfg, mode)
		if err != nil {
			return fmt.Errorf("mode %s: %w", mode, err)
		}
		results = append(results, r)
	}
	print(results)
	for _, r := range results {
		if !r.verified {
			return fmt.Errorf("mode %s: exactly-once check failed: %s", r.mode, r.problem)
		}
	}
	return nil
}

func runMode(cfg config, mode string) (result, error) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: cfg.cpus, Unpinned: cfg.unpinned, IPITimeout: 5 * time.Second})
	if err != nil {
		return result{}, err
	}
	defer d.Close(context.Background())

	// The controller queues numbered bumps in a ring and delivers the
	// "apply your queue" work; the handler, on the hot loop's CPU, applies
	// every queued bump. Exactly once means each bump is applied once, in
	// order, whether its delivery was deferred, sent by IPI, or merged with
	// another delivery pending at the same time.
	var q ring
	var applied uint64
	var mismatches atomicx.Uint64
	bump, err := d.Register("config-bump", func(int) {
		for v, ok := q.pop(); ok; v, ok = q.pop() {
			if v != applied+1 {
				mismatches.Add(1)
			}
			applied = v
		}
	})
	if err != nil {
		return result{}, err
	}

	hot, ctl := cfg.cpus[0], cfg.cpus[1]
	var claimOpts []ctdefer.ClaimOption
	if mode == "always-ipi" {
		claimOpts = append(claimOpts, ctdefer.AlwaysIPI())
	}
	maxSamples := int(cfg.duration/(100*time.Nanosecond)) + 1
	samples := make([]time.Duration, 0, min(maxSamples, 50_000_000))
	var stolen time.Duration
	ready := make(chan error, 1)
	var stop atomicx.Bool
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		c, err := d.Claim(hot, claimOpts...)
		ready <- err
		if err != nil {
			return
		}
		defer c.Release()
		samples, stolen = hotLoop(c, &stop, cfg.entryEvery, samples)
		c.KernelEnter() // leave user mode: the loop is over
	}()
	if err := <-ready; err != nil {
		return result{}, fmt.Errorf("cannot pin the hot loop: %w", err)
	}

	// The controller, pinned to the other CPU.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cc, err := d.Claim(ctl)
	if err != nil {
		stop.Store(true)
		<-loopDone
		return result{}, fmt.Errorf("cannot pin the controller: %w", err)
	}
	var sent uint64
	var sendErr error
	byHow := map[ctdefer.Delivery]uint64{}
	deadline := time.Now().Add(cfg.duration)
	if mode != "no-senders" {
		period := time.Second / time.Duration(cfg.rate)
		next := time.Now()
		for time.Now().Before(deadline) {
			// Park until the next send: the controller's CPU also runs
			// the Go runtime's threads, which the hot loop depends on
			// when the Go scheduler preempts it.
			if wait := time.Until(next); wait > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				_ = cc.Idle(ctx)
				cancel()
			}
			next = next.Add(period)
			sent++
			if !q.push(sent) {
				sendErr = errors.New("bump queue full: the hot loop does not keep up")
				break
			}
			how, err := d.Defer(hot, bump)
			if err != nil {
				sendErr = err
				break
			}
			byHow[how]++
		}
		// Flush: a last synchronous delivery applies whatever is queued.
		if sendErr == nil {
			sendErr = d.DeferWait(context.Background(), hot, bump)
		}
	} else {
		time.Sleep(cfg.duration)
	}
	stop.Store(true)
	<-loopDone
	_ = cc.Release()
	if sendErr != nil {
		return result{}, sendErr
	}

	var st stats.CPU
	for _, c := range d.Stats().CPUs {
		if c.CPU == hot {
			st = c
		}
	}
	r := result{mode: mode, sent: sent, deferred: byHow[ctdefer.Deferred], ipis: byHow[ctdefer.IPI],
		stats: st, iters: len(samples), stolen: stolen}
	switch {
	case mismatches.Load() != 0:
		r.problem = fmt.Sprintf("%d bumps applied out of order or twice", mismatches.Load())
	case applied != sent:
		r.problem = fmt.Sprintf("applied %d of %d bumps", applied, sent)
	default:
		r.verified = true
	}
	slices.Sort(samples)
	if n := len(samples); n > 0 {
		pct := func(p float64) time.Duration { return samples[min(n-1, int(float64(n)*p))] }
		r.lat = []time.Duration{pct(0.50), pct(0.99), pct(0.999), pct(0.9999), samples[n-1]}
	}
	return r, nil
}

// hotLoop is the isolated application: a fixed amount of work per iteration,
// a Poll per iteration (where an IPI would interrupt it), and a kernel entry
// every entryEvery for housekeeping. It records each iteration's duration
// and the time spent in Polls that handled an IPI (time stolen from it).
func hotLoop(c *ctdefer.CPU, stop *atomicx.Bool, entryEvery time.Duration, samples []time.Duration) ([]time.Duration, time.Duration) {
	var stolen time.Duration
	var x uint64 = 88172645463325252
	c.UserEnter()
	last := time.Now()
	nextEntry := last.Add(entryEvery)
	for !stop.Load() {
		for range 64 { // the "packet": ~100 ns of work
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		before := time.Now()
		interrupted := c.Poll()
		now := time.Now()
		if interrupted {
			stolen += now.Sub(before)
		}
		if len(samples) < cap(samples) {
			samples = append(samples, now.Sub(last))
		}
		if now.After(nextEntry) {
			c.KernelEnter() // housekeeping: deferred work runs here
			c.UserEnter()
			now = time.Now() // the entry is housekeeping, not an iteration
			nextEntry = now.Add(entryEvery)
		}
		last = now
	}
	sink.Store(x)
	return samples, stolen
}

var sink atomicx.Uint64

// ring is a single-producer single-consumer queue of bump numbers: the
// controller pushes, the handler (on the hot loop's CPU) pops. The values
// are plain memory published by the tail's atomic store.
type ring struct {
	head, tail atomicx.Uint64 // 64-bit first: ring is allocated, 8-aligned on 386
	buf        [1 << 14]uint64
}

func (r *ring) push(v uint64) bool {
	t := r.tail.Load()
	if t-r.head.Load() == uint64(len(r.buf)) {
		return false
	}
	r.buf[t%uint64(len(r.buf))] = v
	r.tail.Store(t + 1) // store: publishes buf[t]; pairs with the load in pop
	return true
}

func (r *ring) pop() (uint64, bool) {
	h := r.head.Load()
	if h == r.tail.Load() { // load: pairs with the store in push
		return 0, false
	}
	v := r.buf[h%uint64(len(r.buf))]
	r.head.Store(h + 1) // store: frees the slot; pairs with the load in push
	return v, true
}

func print(results []result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tsent\tdeferred\tIPI'd\tIPIs in user\truns\texactly once\tstolen\titerations\tp50\tp99\tp99.9\tp99.99\tmax\t")
	for _, r := range results {
		ok := "yes"
		if !r.verified {
			ok = "NO: " + r.problem
		}
		if r.sent == 0 {
			ok = "-"
		}
		l := r.lat
		if len(l) == 0 {
			l = make([]time.Duration, 5)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%v\t%d\t%v\t%v\t%v\t%v\t%v\t\n", r.mode, r.sent, r.deferred,
			r.ipis, r.stats.IPIsInUser, r.stats.Executed, ok, r.stolen, r.iters, l[0], l[1], l[2], l[3], l[4])
	}
	tw.Flush()
	fmt.Println(`
sent: bumps queued and delivered; deferred / IPI'd: how Defer delivered them.
runs: handler executions (a delivery made while one is pending merges with it).
IPIs in user: IPIs handled at a Poll inside the hot loop, each an interruption;
stolen: the hot loop's time spent in those Polls.
exactly once: every bump applied once, in order (checked by the handler).
p50 ... max: the hot loop's iteration time (kernel entries excluded); on a
shared 2-core VM the tail is dominated by the host, compare the modes.`)
}
