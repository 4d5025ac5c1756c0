package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/lazytlbsim"
	"github.com/ctdefer/ctdefer/lazytlb"
	"github.com/ctdefer/ctdefer/stats"
)

// The scale workload.
//
// A Domain of n simulated CPUs (Options.Unpinned: each has an owner
// goroutine locked to its own OS thread, but the kernel runs the threads
// anywhere), every owner in user mode with one address space loaded and
// blocked there, as isolated workers are between kernel entries. Against n:
//
//	Synchronize       grace.Domain.Synchronize: every CPU is in user mode,
//	                  so each costs two loads
//	ExpeditedBarrier  grace.Domain.ExpeditedBarrier: the same skip
//	Shootdown, kernel range: lazytlb ShootdownKernel: each CPU
//	                  in user mode gets the flush deferred to its next kernel
//	                  entry (ctdefer's Send: one CAS on its word), no wait
//	Shootdown, lazy CPUs: a lazytlb Shootdown of an address space every CPU
//	                  holds lazily: each is marked Flush with one CAS, no IPI
//	                  (a TLB made by lazytlbsim.New, every CPU played by the
//	                  benchmark's goroutine, re-armed between shootdowns
//	                  outside the timing)
//
// Fixed costs (the engine's own words, the call) dominate at small n; the
// per-CPU cost is the slope.

// scaleSeries names the series, in report order.
var scaleSeries = []string{
	"Synchronize",
	"ExpeditedBarrier",
	"Shootdown, kernel range (deferred)",
	"Shootdown, lazy CPUs (marked)",
}

// runScale measures every series at n CPUs.
func runScale(n int, dur time.Duration, clockNs float64) ([]ScaleRun, error) {
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	runs := make([]ScaleRun, len(scaleSeries))
	for i, s := range scaleSeries {
		runs[i] = ScaleRun{Series: s, CPUs: n}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*dur+30*time.Second)
	defer cancel()

	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
	if err != nil {
		return nil, err
	}
	g, err := grace.New(d, grace.Options{})
	if err != nil {
		_ = d.Close(ctx)
		return nil, err
	}
	nop := func(int, *lazytlb.MM, uint64) {}
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nop})
	if err != nil {
		_ = d.Close(ctx)
		return nil, err
	}
	mm := tlb.NewMM("scale")

	quit := make(chan struct{})
	claimed := make(chan error, n)
	var wg sync.WaitGroup
	for _, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Never unlocked: the thread exits with the goroutine, so a
			// run at 1,024 CPUs leaves no idle threads behind.
			runtime.LockOSThread()
			c, err := d.Claim(cpu)
			if err != nil {
				claimed <- err
				return
			}
			h, err := tlb.Attach(c)
			if err != nil {
				claimed <- errors.Join(err, c.Release())
				return
			}
			h.SwitchTo(mm)
			c.UserEnter()
			claimed <- nil
			<-quit
			c.KernelEnter() // runs the deferred flushes
			h.Leave()
			_ = c.Release()
		}()
	}
	var setupErr error
	for range cpus {
		setupErr = errors.Join(setupErr, <-claimed)
	}
	teardown := func() error {
		close(quit)
		wg.Wait()
		return errors.Join(g.Close(ctx), d.Close(ctx))
	}
	if setupErr != nil {
		return nil, errors.Join(setupErr, teardown())
	}

	ops := []func() error{
		func() error { return g.Synchronize(ctx) },
		func() error { return g.ExpeditedBarrier(ctx) },
		func() error { _, err := tlb.ShootdownKernel(ctx, mm); return err },
	}
	for i, op := range ops {
		runs[i].NsPerOp, runs[i].Ops, err = measureOps(dur, op)
		if err != nil {
			runs[i].Err = err.Error()
		}
	}
	last := &runs[len(runs)-1]
	last.NsPerOp, last.Ops, err = measureLazyMarks(cpus, dur, clockNs)
	if err != nil {
		last.Err = err.Error()
	}
	return runs, teardown()
}

// measureOps runs op for dur in batches that grow until one takes 50 µs,
// so the clock reads cost next to nothing, and returns the median over
// those batches of ns per op (the mean while fewer than three were full
// size): a batch during which the thread was descheduled is an outlier,
// not the figure.
func measureOps(dur time.Duration, op func() error) (float64, uint64, error) {
	for range 8 { // warm up
		if err := op(); err != nil {
			return 0, 0, err
		}
	}
	var total time.Duration
	var ops uint64
	var steady []float64
	for batch := 1; total < dur; {
		t := time.Now()
		for range batch {
			if err := op(); err != nil {
				return 0, ops, err
			}
		}
		dt := time.Since(t)
		total += dt
		ops += uint64(batch)
		if dt < 50*time.Microsecond && batch < 1<<20 {
			batch *= 2
		} else {
			steady = append(steady, float64(dt.Nanoseconds())/float64(batch))
		}
	}
	if len(steady) >= 3 {
		slices.Sort(steady)
		return steady[len(steady)/2], ops, nil
	}
	return float64(total.Nanoseconds()) / float64(ops), ops, nil
}

// measureLazyMarks times shootdowns of an address space that every CPU of
// a simulated TLB holds lazily (each is marked Flush, no IPI), re-arming
// every CPU (switch back, enter lazy) between shootdowns, untimed; it
// returns the median, less the clock read.
func measureLazyMarks(cpus []int, dur time.Duration, clockNs float64) (float64, uint64, error) {
	var t *lazytlb.TLB
	// Never called (every CPU is lazy); a shootdown that needed an IPI
	// would run the flush here, on the goroutine that plays every CPU.
	send := func(_ context.Context, cpu int, _ bool) (ctdefer.Delivery, error) {
		lazytlbsim.HandleIPI(t, cpu)
		return ctdefer.IPI, nil
	}
	v, err := lazytlbsim.New(cpus, send, nil, lazytlb.Options{Flush: func(int, *lazytlb.MM, uint64) {}})
	if err != nil {
		return 0, 0, err
	}
	t = v.(*lazytlb.TLB)
	mm := t.NewMM("scale-lazy")
	hs := make([]*lazytlb.CPU, len(cpus))
	for i, cpu := range cpus {
		h, err := lazytlbsim.Owner(t, cpu)
		if err != nil {
			return 0, 0, err
		}
		hs[i] = h.(*lazytlb.CPU)
		hs[i].SwitchTo(mm)
		hs[i].EnterLazy()
	}
	defer func() {
		for _, h := range hs {
			h.SwitchTo(mm) // the switch back
			h.Leave()
		}
	}()
	ctx := context.Background()
	var h stats.Histogram
	var total time.Duration
	var ops uint64
	for begin := time.Now(); total < dur && time.Since(begin) < 20*dur; {
		start := time.Now()
		r, err := t.Shootdown(ctx, mm)
		dt := time.Since(start)
		h.Record(dt)
		total += dt
		ops++
		if err != nil {
			return 0, ops, err
		}
		if r.Marked != len(cpus) {
			return 0, ops, fmt.Errorf("shootdown marked %d of %d lazy CPUs: %+v", r.Marked, len(cpus), r)
		}
		for _, h := range hs {
			h.SwitchTo(mm) // the switch back
			h.EnterLazy()
		}
	}
	return max(float64(h.Quantile(0.5))-clockNs, 0), ops, nil
}
