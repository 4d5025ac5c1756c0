package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	"github.com/ctdefer/ctdefer/stats"
)

// The hot-loop disturbance workload.
//
// A worker pinned to the target CPU runs the same loop in every mode: a
// fixed "packet" of work (about 100 ns of register arithmetic), the mode's
// poll point, a clock read that records the iteration's time, and every
// EntryEvery a housekeeping kernel entry (KernelEnter then UserEnter: where
// deferred work runs). A sender pinned to another CPU delivers one item at
// a time at a fixed rate, or back-to-back, by the mode's mechanism:
//
//	Defer          ctdefer.Domain.Defer; the worker is in user mode between
//	               entries, so an item is a CAS on its word and runs at the
//	               next entry; the poll point is CPU.Poll
//	AlwaysIPI      the same, on a CPU claimed with ctdefer.AlwaysIPI: every
//	               item is an IPI handled at the next Poll, inside the loop
//	channel        a buffered channel the worker polls (select with default)
//	mutex mailbox  a mutex-guarded slice the worker drains under the lock
//	atomic.Pointer copy-on-write: the sender copies the current config,
//	               changes it and publishes it; the worker loads the pointer
//
// The no-sender run of each mode is its baseline: throughput is reported
// relative to it, so a mode's own poll cost is not counted as disturbance
// (the absolute iterations per second show it). Every iteration's time is
// recorded, housekeeping entries and whatever handling happened in it
// included.

// hotMode is one delivery mode.
type hotMode struct {
	name  string
	claim []ctdefer.ClaimOption
	// ctdefer: deliveries go through the Domain (Stats say how they ran).
	ctdefer bool
	// make returns the worker's poll point, called once per iteration on
	// the worker, and the sender's delivery of item i.
	make func(r *hotRig) (poll func(c *ctdefer.CPU), send func(i uint64) error)
}

// hotModes are the delivery modes, in report order.
var hotModes = []hotMode{
	{name: "Defer", ctdefer: true, make: deferMode},
	{name: "AlwaysIPI", ctdefer: true, claim: []ctdefer.ClaimOption{ctdefer.AlwaysIPI()}, make: deferMode},
	{name: "channel", make: channelMode},
	{name: "mutex mailbox", make: mailboxMode},
	{name: "atomic.Pointer", make: cowMode},
}

// hotRig is the state shared by one run's worker and sender.
type hotRig struct {
	d      *ctdefer.Domain
	target int
	work   ctdefer.Work
	// applied counts items handled; written by the worker only (the
	// handler of work runs on the worker), read after it has finished.
	applied uint64
	// how counts Defer's answers, indexed by ctdefer.Delivery; sender only.
	how [4]uint64
}

func deferMode(r *hotRig) (func(*ctdefer.CPU), func(uint64) error) {
	return func(c *ctdefer.CPU) { c.Poll() }, func(uint64) error {
		how, err := r.d.Defer(r.target, r.work)
		if int(how) < len(r.how) {
			r.how[how]++
		}
		return err
	}
}

func channelMode(r *hotRig) (func(*ctdefer.CPU), func(uint64) error) {
	ch := make(chan uint64, 1024)
	return func(*ctdefer.CPU) {
			select {
			case <-ch:
				r.applied++
			default:
			}
		}, func(i uint64) error {
			ch <- i
			return nil
		}
}

// mailbox is the mutex-guarded mailbox a Go programmer would write.
type mailbox struct {
	mu    sync.Mutex
	items []uint64
}

func mailboxMode(r *hotRig) (func(*ctdefer.CPU), func(uint64) error) {
	m := &mailbox{items: make([]uint64, 0, 1024)}
	return func(*ctdefer.CPU) {
			m.mu.Lock()
			r.applied += uint64(len(m.items))
			m.items = m.items[:0]
			m.mu.Unlock()
		}, func(i uint64) error {
			m.mu.Lock()
			m.items = append(m.items, i)
			m.mu.Unlock()
			return nil
		}
}

// cowConfig is the configuration published copy-on-write: a few lines.
type cowConfig struct {
	gen    uint64
	params [15]uint64
}

func cowMode(r *hotRig) (func(*ctdefer.CPU), func(uint64) error) {
	var cur atomic.Pointer[cowConfig]
	cur.Store(new(cowConfig))
	var seen uint64 // worker only
	return func(*ctdefer.CPU) {
			if c := cur.Load(); c.gen != seen {
				seen = c.gen
				hotSink.Store(c.params[c.gen%uint64(len(c.params))]) // apply it
				r.applied++
			}
		}, func(i uint64) error {
			next := *cur.Load() // copy ...
			next.gen = i        // ... change ...
			next.params[i%uint64(len(next.params))] = i
			cur.Store(&next) // ... publish
			return nil
		}
}

// packet is the hot loop's fixed work: 64 rounds of xorshift.
func packet(x uint64) uint64 {
	for range 64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var hotSink atomic.Uint64

// hotLoop is the worker's loop, on its pinned CPU. It polls (not recording)
// until start, then records every iteration until stop, and w charges
// each gap to its source (gaps.go). It returns the
// iterations, the time they took and the thread's time on the CPU meanwhile
// (0 if unknown).
func hotLoop(c *ctdefer.CPU, poll func(*ctdefer.CPU), start, stop *atomic.Bool, entryEvery time.Duration, h *stats.Histogram, w *gapWatch) (iters uint64, elapsed, onCPU time.Duration) {
	x := uint64(88172645463325252)
	c.UserEnter()
	for !start.Load() && !stop.Load() {
		x = packet(x)
		poll(c)
	}
	if stop.Load() {
		c.KernelEnter()
		return 0, 0, 0
	}
	cpu0, cpuOK := threadCPUTime()
	t0 := time.Now()
	var last time.Duration
	nextEntry := entryEvery
	for !stop.Load() {
		x = packet(x)
		poll(c)
		now := time.Since(t0)
		h.Record(now - last)
		if w.iteration(now - last) {
			now = time.Since(t0) // reading the counters is no iteration's time
		}
		last = now
		iters++
		if now >= nextEntry {
			w.entry()
			c.KernelEnter() // housekeeping: deferred work runs here
			c.UserEnter()
			nextEntry = now + entryEvery
		}
	}
	if cpu1, ok := threadCPUTime(); cpuOK && ok {
		onCPU = cpu1 - cpu0
	}
	c.KernelEnter()
	hotSink.Store(x)
	return iters, last, onCPU
}

// hotSetup is what every run of the workload shares.
type hotSetup struct {
	sender, target int
	pinned         bool
	dur            time.Duration
	entryEvery     time.Duration
	threshold      time.Duration // a longer iteration is a gap
	clockNs        float64
}

// runHot runs one (mode, rate): rate < 0 is the no-sender baseline, 0
// back-to-back. The caller's goroutine becomes the sender.
func runHot(s hotSetup, mode hotMode, rate float64) (run HotRun, err error) {
	run = HotRun{Mode: mode.name, Rate: rate}
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{s.sender, s.target}, Unpinned: !s.pinned, IPITimeout: 10 * time.Second})
	if err != nil {
		return run, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := d.Close(ctx); err == nil && cerr != nil {
			err = fmt.Errorf("closing the domain: %w", cerr)
		}
	}()
	r := &hotRig{d: d, target: s.target}
	if r.work, err = d.Register("bench.bump", func(int) { r.applied++ }); err != nil {
		return run, err
	}
	poll, send := mode.make(r)

	var start, stop atomic.Bool
	type outcome struct {
		iters          uint64
		elapsed, onCPU time.Duration
		hist           *stats.Histogram
		gaps           GapSources
		err            error
	}
	ready := make(chan error, 1)
	done := make(chan outcome, 1)
	go func() {
		c, err := d.Claim(s.target, mode.claim...)
		ready <- err
		if err != nil {
			return
		}
		h := new(stats.Histogram)
		w := newGapWatch(s.threshold, &r.applied)
		iters, elapsed, onCPU := hotLoop(c, poll, &start, &stop, s.entryEvery, h, w)
		done <- outcome{iters, elapsed, onCPU, h, w.done(), c.Release()}
	}()
	if err := <-ready; err != nil {
		return run, fmt.Errorf("pinning the hot loop to CPU %d: %w", s.target, err)
	}

	// The sender: this goroutine, pinned to its CPU.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sc, err := d.Claim(s.sender)
	if err != nil {
		stop.Store(true)
		<-done
		return run, fmt.Errorf("pinning the sender to CPU %d: %w", s.sender, err)
	}
	time.Sleep(10 * time.Millisecond) // the worker warms up
	start.Store(true)
	var sendErr error
	if rate < 0 {
		time.Sleep(s.dur)
	} else {
		var took time.Duration
		run.Sent, run.SenderNs, took, sendErr = sendLoop(rate, s.dur, s.clockNs, send)
		if took > 0 {
			run.SendsPerSec = float64(run.Sent) / took.Seconds()
		}
		if run.SenderNs < 0 {
			run.SenderNs, run.SenderBelow = 0, s.clockNs/2
		}
	}
	stop.Store(true)
	o := <-done
	if err := sc.Release(); err != nil && sendErr == nil {
		sendErr = err
	}
	if sendErr == nil {
		sendErr = o.err
	}
	if sendErr != nil {
		run.Err = sendErr.Error()
	}

	run.Iters, run.Elapsed, run.OnCPU, run.Gaps = o.iters, o.elapsed, o.onCPU, o.gaps
	if o.elapsed > 0 {
		run.ItersPerSec = float64(o.iters) / o.elapsed.Seconds()
		run.CPUShare = min(float64(o.onCPU)/float64(o.elapsed), 1)
	}
	if o.onCPU > 0 {
		run.ItersPerCPUSec = float64(o.iters) / o.onCPU.Seconds()
	}
	run.hist = o.hist
	run.fillLatency()
	if mode.ctdefer {
		var st stats.CPU
		for _, c := range d.Stats().CPUs {
			if c.CPU == s.target {
				st = c
			}
		}
		run.InLoop, run.AtEntry = st.IPIsInUser, st.Deferred
		run.Deferred, run.IPIs = r.how[ctdefer.Deferred], r.how[ctdefer.IPI]
	} else {
		run.InLoop = r.applied
	}
	return run, nil
}

// fillLatency sets the percentiles and the CDF from the histogram.
func (r *HotRun) fillLatency() {
	h := r.hist
	if h == nil {
		return
	}
	r.P50, r.P999, r.P9999, r.Max = h.Quantile(0.5), h.Quantile(0.999), h.Quantile(0.9999), h.Quantile(1)
	r.cdf = cdf(h)
}

// combineRounds folds the rounds of one (mode, rate) into one run. Counts,
// times and histograms add up; the throughput per CPU-second and the
// sender's cost are the best round's, since noise from other tasks only
// ever slows a round down.
func combineRounds(rounds []HotRun) HotRun {
	c := rounds[0]
	c.hist = new(stats.Histogram)
	c.Gaps = GapSources{}
	var took float64 // the senders' time, from each round's rate
	c.Iters, c.Elapsed, c.OnCPU, c.Sent, c.InLoop, c.AtEntry, c.Deferred, c.IPIs = 0, 0, 0, 0, 0, 0, 0, 0
	c.ItersPerCPUSec, c.SenderNs, c.SenderBelow = 0, math.Inf(1), 0
	for _, r := range rounds {
		if r.Err != "" && c.Err == "" {
			c.Err = r.Err
		}
		c.Iters += r.Iters
		c.Elapsed += r.Elapsed
		c.OnCPU += r.OnCPU
		c.Sent += r.Sent
		if r.SendsPerSec > 0 {
			took += float64(r.Sent) / r.SendsPerSec
		}
		c.InLoop += r.InLoop
		c.AtEntry += r.AtEntry
		c.Deferred += r.Deferred
		c.IPIs += r.IPIs
		c.ItersPerCPUSec = max(c.ItersPerCPUSec, r.ItersPerCPUSec)
		if r.SenderBelow > 0 {
			c.SenderBelow = r.SenderBelow
		} else if r.Sent > 0 {
			c.SenderNs = min(c.SenderNs, r.SenderNs)
		}
		if r.hist != nil {
			c.hist.Merge(*r.hist)
		}
		c.Gaps.merge(r.Gaps)
	}
	if math.IsInf(c.SenderNs, 1) || c.SenderBelow > 0 {
		c.SenderNs = 0 // the best round was too quick to time alone
	}
	c.ItersPerSec, c.SendsPerSec, c.CPUShare = 0, 0, 0
	if c.Elapsed > 0 {
		c.ItersPerSec = float64(c.Iters) / c.Elapsed.Seconds()
		c.CPUShare = min(float64(c.OnCPU)/float64(c.Elapsed), 1)
	}
	if took > 0 {
		c.SendsPerSec = float64(c.Sent) / took
	}
	c.Rounds = len(rounds)
	c.fillLatency()
	return c
}

// sendLoop delivers items by send for dur: rate per second, or
// back-to-back for rate 0. It returns the items sent and the sender's
// typical cost per item, a median, so that the times the sender's thread
// was descheduled do not count: back-to-back, of batches of 32 items timed
// together; at a rate, of each call timed alone, less the clock read that
// timing it costs (-1 when the call is too cheap to tell from that read).
func sendLoop(rate float64, dur time.Duration, clockNs float64, send func(uint64) error) (sent uint64, nsPer float64, took time.Duration, err error) {
	var h stats.Histogram
	begin := time.Now()
	deadline := begin.Add(dur)
	if rate == 0 {
		const batch = 32
		for t := begin; t.Before(deadline); {
			for range batch {
				sent++
				if err = send(sent); err != nil {
					return sent, 0, time.Since(begin), err
				}
			}
			now := time.Now()
			h.Record(now.Sub(t))
			t = now
		}
		return sent, max(float64(h.Quantile(0.5))-clockNs, 0) / batch, time.Since(begin), nil
	}
	period := time.Duration(float64(time.Second) / rate)
	next := begin
	for {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		if wait := next.Sub(now); wait > 0 {
			if wait > 300*time.Microsecond {
				time.Sleep(wait - 200*time.Microsecond)
			}
			continue
		}
		sent++
		t := time.Now()
		err = send(sent)
		h.Record(time.Since(t))
		if err != nil {
			break
		}
		next = next.Add(period)
		if now.Sub(next) > 100*period { // far behind (the sender was descheduled): no burst
			next = now
		}
	}
	took = time.Since(begin)
	if sent == 0 {
		return 0, 0, took, err
	}
	med := float64(h.Quantile(0.5))
	if med < 1.5*clockNs {
		return sent, -1, took, err
	}
	return sent, med - clockNs, took, err
}

// threadCPUTime returns the calling thread's time on a CPU (schedstat,
// Linux); false where it cannot be read.
func threadCPUTime() (time.Duration, bool) {
	st, err := host.ReadThreadSchedstat(hostFS)
	if err != nil {
		return 0, false
	}
	return time.Duration(st.RunNs), true
}

// hostFS is the host's root, for the few files read during a run.
var hostFS = os.DirFS("/")

// clockCost measures one time.Now, the best of a few rounds.
func clockCost() float64 {
	best := 1e9
	for range 5 {
		t := time.Now()
		var sink int64
		for range 10000 {
			sink += time.Now().UnixNano()
		}
		hotSink.Add(uint64(sink))
		best = min(best, float64(time.Since(t).Nanoseconds())/10000)
	}
	return best
}
