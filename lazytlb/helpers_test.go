package lazytlb_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
	"github.com/ctdefer/ctdefer/stats"
)

// The helpers of package lazytlb_test's tests and benchmarks, all in this
// file; the exceptions are bound to the race build tag: raceEnabled
// (race_test.go, norace_test.go) and the benchmarks' enterLazy (race_test.go,
// bench_plain_test.go).

// flushLog records the flushes a TLB's callback ran.
type flushLog struct {
	mu      sync.Mutex
	flushes []flushRec
}

type flushRec struct {
	cpu int
	mm  string
	gen uint64
}

func (l *flushLog) flush(cpu int, mm *lazytlb.MM, gen uint64) {
	l.mu.Lock()
	l.flushes = append(l.flushes, flushRec{cpu, mm.Name(), gen})
	l.mu.Unlock()
}

func (l *flushLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.flushes)
}

func (l *flushLog) last() flushRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.flushes) == 0 {
		return flushRec{}
	}
	return l.flushes[len(l.flushes)-1]
}

// direct is a single-goroutine TLB: its sender runs the IPI handler inline,
// which is valid because the test goroutine plays every CPU's owner. A
// kernel-range send plays a CPU in user mode: it reports ctdefer.Deferred
// (the handler, run inline, stands for the CPU's next kernel entry).
type direct struct {
	t     *lazytlb.TLB
	log   *flushLog
	sends []send
}

type send struct {
	cpu    int
	kernel bool
}

func newDirect(t *testing.T, cpus []int, p lazytlb.Policy) *direct {
	t.Helper()
	d := &direct{log: &flushLog{}}
	var err error
	d.t, err = lazytlb.NewWithSender(cpus, func(_ context.Context, cpu int, kernel bool) (ctdefer.Delivery, error) {
		d.sends = append(d.sends, send{cpu, kernel})
		d.t.HandleIPI(cpu)
		if kernel {
			return ctdefer.Deferred, nil
		}
		return ctdefer.IPI, nil
	}, lazytlb.WithPolicy(p, lazytlb.Options{Flush: d.log.flush}))
	require.NoError(t, err, "NewWithSender(%v, %v)", cpus, p)
	return d
}

func (d *direct) cpu(t *testing.T, n int) *lazytlb.CPU {
	t.Helper()
	c, err := d.t.CPU(n)
	require.NoError(t, err, "TLB.CPU(%d)", n)
	return c
}

func (d *direct) shootdown(t *testing.T, mm *lazytlb.MM) lazytlb.Result {
	t.Helper()
	r, err := d.t.Shootdown(context.Background(), mm)
	require.NoError(t, err, "Shootdown(%s)", mm.Name())
	return r
}

func (d *direct) shootdownKernel(t *testing.T, mm *lazytlb.MM) lazytlb.Result {
	t.Helper()
	r, err := d.t.ShootdownKernel(context.Background(), mm)
	require.NoError(t, err, "ShootdownKernel(%s)", mm.Name())
	return r
}

func flushedOf(t testing.TB, mm *lazytlb.MM, cpu int) uint64 {
	t.Helper()
	return mm.Flushed(cpu)
}

// oneCPU returns a one-CPU TLB under policy p whose CPU 0 is active on a new
// MM "a", and lazy if lazy.
func oneCPU(t *testing.T, p lazytlb.Policy, lazy bool) (*direct, *lazytlb.CPU, *lazytlb.MM) {
	t.Helper()
	d := newDirect(t, []int{0}, p)
	c := d.cpu(t, 0)
	mm := d.t.NewMM("a")
	c.SwitchTo(mm)
	if lazy {
		c.EnterLazy()
	}
	return d, c, mm
}

// requireArgError checks that err is a *ctdefer.ArgError from call about arg,
// wrapping ctdefer.ErrInvalid, whose reason contains reason.
func requireArgError(t testing.TB, err error, call, arg, reason, what string) *ctdefer.ArgError {
	t.Helper()
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "%s", what)
	var ae *ctdefer.ArgError
	require.ErrorAs(t, err, &ae, "%s", what)
	require.Equal(t, call, ae.Call, "%s: the call", what)
	require.Equal(t, arg, ae.Arg, "%s: the argument", what)
	require.Contains(t, ae.Reason, reason, "%s: the reason", what)
	return ae
}

// maxCPU is the largest CPU number a Domain accepts (percpu.MaxCPU).
const maxCPU = 1<<16 - 1

type rawWord struct {
	v  atomic.Uint64 // the state word of the atomic variants
	mu sync.Mutex    // lock: the per-CPU lock of option 2
	st uint64        // lock: the state word, accessed under mu only
	_  cpu.CacheLinePad
}

const (
	rawOK    = uint64(lazytlb.OK)
	rawLazy  = uint64(lazytlb.Lazy)
	rawFlush = uint64(lazytlb.Flush)
)

// switchWay is one way of writing the switch.
type switchWay struct {
	name  string
	enter func(w *rawWord)        // EnterLazy
	back  func(w *rawWord) uint64 // the switch back; returns the old state
	storm func(w *rawWord)        // one shootdown's visit to the word
	base  *switchWay              // the baseline subtracted in net-ns/op
}

// sink keeps the baseline's loads.
var sink uint64

func benchSwitchBack(b *testing.B, contended bool, way switchWay) {
	w := new(rawWord)
	w.v.Store(rawOK)
	w.st = rawOK
	stop := startStorm(b, contended, func() { way.storm(w) })
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	base := way.base
	var x uint64
	start := time.Now()
	for range b.N {
		base.enter(w)
		x += base.back(w)
	}
	baseNs := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	sink += x
	n := 0
	b.StartTimer()
	for range b.N {
		way.enter(w)
		if way.back(w) == rawFlush {
			n++
		}
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(float64(n)/float64(b.N), "marks/op")
	b.ReportMetric(baseNs, "base-ns/op")
	b.ReportMetric(ns-baseNs, "net-ns/op")
}

// startStorm runs fn in a loop on another goroutine until stop is called.
func startStorm(b *testing.B, on bool, fn func()) (stop func()) {
	if !on {
		return func() {}
	}
	if runtime.NumCPU() < 2 {
		b.Skip("contention needs two CPUs")
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			fn()
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}

func casStorm(w *rawWord) {
	if w.v.Load() == rawLazy {
		w.v.CompareAndSwap(rawLazy, rawFlush)
	}
}

// lockStorm is option 2's shootdown: take the CPU's lock, mark it if lazy.
func lockStorm(w *rawWord) {
	w.mu.Lock()
	if w.st == rawLazy {
		w.st = rawFlush
	}
	w.mu.Unlock()
}

func loadBack(w *rawWord) uint64 { return w.v.Load() }

func swapBack(w *rawWord) uint64 { return w.v.Swap(rawOK) }

func casBack(w *rawWord) uint64 {
	for {
		old := w.v.Load()
		if w.v.CompareAndSwap(old, rawOK) {
			return old
		}
	}
}

func atomicStoreBack(w *rawWord) uint64 {
	old := w.v.Load()
	w.v.Store(rawOK)
	return old
}

// lockEnter and lockBack: the context switch's critical sections, with the
// state accesses option 2 adds to them.
func lockEnter(w *rawWord) {
	w.mu.Lock()
	w.st = rawLazy
	w.mu.Unlock()
}

func lockBack(w *rawWord) uint64 {
	w.mu.Lock()
	old := w.st
	w.st = rawOK
	w.mu.Unlock()
	return old
}

// lockOnly and lockOnlyBack: the same critical sections, empty.
func lockOnly(w *rawWord) {
	w.mu.Lock()
	//lint:ignore SA2001 an empty critical section is the point: the baseline of lock
	w.mu.Unlock()
}

func lockOnlyBack(w *rawWord) uint64 { lockOnly(w); return 0 }

var (
	atomicBase = &switchWay{name: "baseline", enter: enterLazy, back: loadBack, storm: casStorm}
	lockBase   = &switchWay{name: "lock-baseline", enter: lockOnly, back: lockOnlyBack, storm: lockStorm}
	// switchWays are the ways benchmarked; bench_plain_test.go adds
	// plain-store when not built with -race.
	switchWays = []switchWay{
		{name: "swap", enter: enterLazy, back: swapBack, storm: casStorm, base: atomicBase},
		{name: "cas", enter: enterLazy, back: casBack, storm: casStorm, base: atomicBase},
		{name: "atomic-store", enter: enterLazy, back: atomicStoreBack, storm: casStorm, base: atomicBase},
		{name: "lock", enter: lockEnter, back: lockBack, storm: lockStorm, base: lockBase},
	}
)

// BenchmarkCPUSwitchBack*: the real thing, EnterLazy + SwitchBack on a
// lazytlb.CPU; Contended runs a shootdown loop on the same CPU's MM (its
// marks make some switch backs flush: counted in flushes/op).
func benchCPUSwitchBack(b *testing.B, contended bool) {
	tlb, err := lazytlb.NewWithSender([]int{0}, nopSend, lazytlb.Options{Flush: nopFlush})
	if err != nil {
		b.Fatal(err)
	}
	c, _ := tlb.CPU(0)
	mm := tlb.NewMM("a")
	c.SwitchTo(mm)
	ctx := context.Background()
	stop := startStorm(b, contended, func() {
		// Shoot down lazy CPUs only, so that the storm mostly marks. The
		// owner may still switch back between this check and the
		// shootdown's own load of the state: the shootdown then finds OK
		// and sends an IPI through nopSend, which returns at once without
		// running the handler (counted in ipis/op).
		if tlb.State(0) == lazytlb.Lazy {
			_, _ = tlb.Shootdown(ctx, mm)
		}
	})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		c.EnterLazy()
		if c.SwitchBack() {
			n++
		}
	}
	stop()
	st := tlb.Stats()
	b.ReportMetric(float64(n)/float64(b.N), "flushes/op")
	b.ReportMetric(float64(st.IPIs)/float64(b.N), "ipis/op")
}

// Shootdown cost by the target's state, with 1 and 2 target CPUs (pinned
// workers), per CPU so that larger machines can be extrapolated:
//
//	BenchmarkTLBShootdownLazy        targets lazy: no IPI, one CAS, or one
//	                                 load if the target has not re-armed
//	                                 since the previous shootdown. The
//	                                 target re-arms in place (Flush -> Lazy,
//	                                 CPU.Rearm, a test hook) without passing
//	                                 through OK, so no shootdown can find it
//	                                 OK: the benchmark fails if one sends an
//	                                 IPI.
//	BenchmarkTLBShootdownLazySwitch  the same, with a target that re-arms
//	                                 the way an owner does (SwitchBack, then
//	                                 EnterLazy): a shootdown that finds it
//	                                 OK in between sends an IPI; ipis/op
//	                                 is the fraction that did.
//	BenchmarkTLBShootdownActive      targets OK, polling in user mode: one
//	                                 IPI round trip each
//	BenchmarkTLBShootdownEager       PolicyEager, targets lazy: one IPI each
//
// marked/op and already/op say how the no-IPI shootdowns split between the
// CAS and the load. The shootdown runs on the benchmark goroutine
// (unpinned). With 2 targets on a 2-CPU machine it shares a CPU with a
// spinning worker, so the IPI figures for cpus=2 include time slicing;
// cpus=1 leaves it a CPU of its own.
type target uint8

const (
	targetActive      target = iota // OK, polling in user mode
	targetLazyInPlace               // lazy; re-arms with CPU.Rearm
	targetLazySwitch                // lazy; re-arms with SwitchBack + EnterLazy
)

func benchShootdown(b *testing.B, p lazytlb.Policy, tg target) {
	all := upToCPUs(b, 2)
	for n := 1; n <= 2; n++ {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			if len(all) < n {
				b.Skipf("needs %d CPUs, have %v", n, all)
			}
			cpus := all[len(all)-n:] // cpus=1 takes the last CPU, leaving the first to the flusher
			benchShootdownOn(b, cpus, p, tg)
		})
	}
}

func benchShootdownOn(b *testing.B, cpus []int, p lazytlb.Policy, tg target) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(6, runtime.GOMAXPROCS(0))))
	d := newDomain(b, cpus)
	tlb, err := lazytlb.New(d, lazytlb.WithPolicy(p, lazytlb.Options{Flush: nopFlush}))
	if err != nil {
		b.Fatal(err)
	}
	mm := tlb.NewMM("a")
	lazy := tg != targetActive
	var stop atomic.Bool
	var ready, done sync.WaitGroup
	for _, n := range cpus {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			c, err := d.Claim(n)
			if err != nil {
				panic(err)
			}
			defer c.Release()
			tc, _ := tlb.Attach(c)
			tc.SwitchTo(mm)
			if lazy {
				tc.EnterLazy()
			} else {
				c.UserEnter()
			}
			ready.Done()
			for !stop.Load() {
				c.Poll()
				if lazy && tc.State() == lazytlb.Flush {
					if tg == targetLazyInPlace {
						tc.Rearm() // Flush -> Lazy: never OK
					} else {
						tc.SwitchBack() // through OK: a shootdown may IPI here
						tc.EnterLazy()
					}
				}
			}
			if !lazy {
				c.KernelEnter()
			}
			tc.Leave()
		}()
	}
	ready.Wait()
	ctx := context.Background()
	var ipis, marked, already, withIPI int
	b.ReportAllocs()
	for b.Loop() {
		r, err := tlb.Shootdown(ctx, mm)
		if err != nil {
			b.Fatal(err)
		}
		ipis += r.IPIs
		marked += r.Marked
		already += r.AlreadyMarked
		if r.IPIs != 0 {
			withIPI++
		}
	}
	b.StopTimer()
	stop.Store(true)
	done.Wait()
	if p == lazytlb.PolicyLazy && tg == targetLazyInPlace && ipis != 0 {
		b.Fatalf("%d shootdowns of %d sent IPIs to targets that never pass through OK", withIPI, b.N)
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/float64(len(cpus)), "ns/cpu")
	b.ReportMetric(float64(ipis)/float64(b.N), "ipis/op")
	b.ReportMetric(float64(withIPI)/float64(b.N), "with-ipi/op")
	if lazy {
		b.ReportMetric(float64(marked)/float64(b.N), "marked/op")
		b.ReportMetric(float64(already)/float64(b.N), "already/op")
	}
}

// testOptions pins on Linux and runs unpinned elsewhere.
func testOptions(cpus []int) ctdefer.Options {
	return ctdefer.Options{CPUs: cpus, Unpinned: runtime.GOOS != "linux", IPITimeout: 10 * time.Second}
}

// newDomain creates a Domain over cpus, closed at cleanup.
func newDomain(t testing.TB, cpus []int) *ctdefer.Domain {
	t.Helper()
	d, err := ctdefer.New(testOptions(cpus))
	require.NoError(t, err, "ctdefer.New(%v)", cpus)
	closeAtCleanup(t, d)
	return d
}

// unpinnedDomain is a Domain over CPU 0 that does not pin (so the test
// holds under any taskset), closed at cleanup.
func unpinnedDomain(t testing.TB, opts ctdefer.Options) *ctdefer.Domain {
	t.Helper()
	opts.CPUs, opts.Unpinned = []int{0}, true
	d, err := ctdefer.New(opts)
	require.NoError(t, err, "ctdefer.New(%+v)", opts)
	closeAtCleanup(t, d)
	return d
}

// closeAtCleanup closes d when the test ends (it may have closed d itself).
func closeAtCleanup(t testing.TB, d *ctdefer.Domain) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil && !errors.Is(err, ctdefer.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
}

// upToCPUs returns the first n allowed CPUs, or all of them if fewer.
func upToCPUs(t testing.TB, n int) []int {
	t.Helper()
	d, err := ctdefer.New(testOptions(nil))
	require.NoError(t, err)
	cpus := d.CPUs()
	require.NoError(t, d.Close(context.Background()))
	return cpus[:min(n, len(cpus))]
}

// allowedCPUs returns the first want allowed CPUs, skipping the test if
// there are fewer.
func allowedCPUs(t testing.TB, want int) []int {
	t.Helper()
	cpus := upToCPUs(t, want)
	if len(cpus) < want {
		t.Skipf("needs %d allowed CPUs, have %v", want, cpus)
	}
	return cpus
}

// worker claims a CPU on its own goroutine and runs the test's commands on
// it, so the test can drive an owner step by step.
type worker struct {
	cmds chan func(*ctdefer.CPU)
	done chan struct{}
}

func startWorker(t testing.TB, d *ctdefer.Domain, cpu int) *worker {
	t.Helper()
	w := &worker{cmds: make(chan func(*ctdefer.CPU)), done: make(chan struct{})}
	claimed := make(chan error)
	go func() {
		defer close(w.done)
		c, err := d.Claim(cpu)
		claimed <- err
		if err != nil {
			return
		}
		for f := range w.cmds {
			f(c)
		}
		_ = c.Release()
	}()
	require.NoError(t, <-claimed, "Claim(%d)", cpu)
	t.Cleanup(func() { close(w.cmds); <-w.done })
	return w
}

// do runs f on the worker and waits for it.
func (w *worker) do(f func(*ctdefer.CPU)) {
	ran := make(chan struct{})
	w.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	<-ran
}

// async runs f on the worker without waiting; the channel closes when f
// has returned.
func (w *worker) async(f func(*ctdefer.CPU)) <-chan struct{} {
	ran := make(chan struct{})
	w.cmds <- func(c *ctdefer.CPU) { f(c); close(ran) }
	return ran
}

// oneWorker returns a Domain over one allowed CPU, a TLB with a flush log,
// an MM "a", and a worker that has claimed the CPU.
func oneWorker(t *testing.T) (*ctdefer.Domain, *lazytlb.TLB, *lazytlb.MM, *flushLog, *worker, []int) {
	t.Helper()
	cpus := allowedCPUs(t, 1)
	d := newDomain(t, cpus)
	log := &flushLog{}
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: log.flush})
	require.NoError(t, err, "lazytlb.New")
	return d, tlb, tlb.NewMM("a"), log, startWorker(t, d, cpus[0]), cpus
}

// cpuStats returns CPU cpu's entry of d.Stats() (zero if d has no such CPU).
func cpuStats(d *ctdefer.Domain, cpu int) stats.CPU {
	for _, c := range d.Stats().CPUs {
		if c.CPU == cpu {
			return c
		}
	}
	return stats.CPU{}
}

func nopFlush(int, *lazytlb.MM, uint64) {}

func nopSend(context.Context, int, bool) (ctdefer.Delivery, error) { return ctdefer.IPI, nil }

const hammerMMs = 2

type checker struct {
	version   [hammerMMs]atomic.Uint64 // bumped by flushers before a shootdown
	completed [hammerMMs]atomic.Uint64 // newest version whose shootdown returned
	caches    []cpuCache               // per slot index, owner only
	index     map[*lazytlb.MM]int      // read-only after setup
	cpuIndex  map[int]int              // read-only after setup
	uses      atomic.Uint64
	stale     atomic.Uint64
	mu        sync.Mutex
	first     string // first stale use
}

type cpuCache struct {
	ver [hammerMMs]uint64
	_   cpu.CacheLinePad
}

// flush is the TLB's callback: refill cpu's cached translation of mm.
func (k *checker) flush(cpuN int, mm *lazytlb.MM, _ uint64) {
	m := k.index[mm]
	k.caches[k.cpuIndex[cpuN]].ver[m] = k.version[m].Load()
}

// use is a use of mm on cpu: the no-stale-translation check.
func (k *checker) use(cpuN int, mm *lazytlb.MM, where string) {
	m := k.index[mm]
	c := k.completed[m].Load() // first: it only grows
	v := k.caches[k.cpuIndex[cpuN]].ver[m]
	k.uses.Add(1)
	if v < c {
		if k.stale.Add(1) == 1 {
			k.mu.Lock()
			k.first = fmt.Sprintf("CPU %d used %s %s at version %d, but the shootdown of version %d had returned", cpuN, mm.Name(), where, v, c)
			k.mu.Unlock()
		}
	}
}

// complete records that the shootdown of version v of mm m returned.
func (k *checker) complete(m int, v uint64) {
	for {
		old := k.completed[m].Load()
		if old >= v || k.completed[m].CompareAndSwap(old, v) {
			return
		}
	}
}

type hammerResult struct {
	stats        lazytlb.Stats
	uses, stale  uint64
	first        string
	shootdowns   int
	domainIPIs   uint64
	domainDefers uint64
}

// hammer runs workers on cpus and flushers for d under policy p.
func hammer(t *testing.T, cpus []int, p lazytlb.Policy, flushers int, dur time.Duration) hammerResult {
	t.Helper()
	d := newDomain(t, cpus)
	k := &checker{caches: make([]cpuCache, len(cpus)), index: map[*lazytlb.MM]int{}, cpuIndex: map[int]int{}}
	for i, c := range cpus {
		k.cpuIndex[c] = i
	}
	tlb, err := lazytlb.New(d, lazytlb.WithPolicy(p, lazytlb.Options{Flush: k.flush}))
	require.NoError(t, err, "lazytlb.New")
	var mms [hammerMMs]*lazytlb.MM
	for i := range mms {
		mms[i] = tlb.NewMM(fmt.Sprint("mm", i))
		k.index[mms[i]] = i
	}

	var stopWorkers, stopFlushers atomic.Bool
	var workers, flusherWG sync.WaitGroup
	errs := make(chan error, len(cpus)+flushers)
	for i, n := range cpus {
		workers.Add(1)
		go func() {
			defer workers.Done()
			errs <- runWorker(d, tlb, k, mms, n, uint64(i), &stopWorkers)
		}()
	}
	var shootdowns atomic.Int64
	for f := range flushers {
		flusherWG.Add(1)
		go func() {
			defer flusherWG.Done()
			rng := rand.New(rand.NewPCG(uint64(f), 7))
			for !stopFlushers.Load() {
				m := 0
				if rng.IntN(4) == 0 {
					m = 1
				}
				v := k.version[m].Add(1)
				if _, err := tlb.Shootdown(context.Background(), mms[m]); err != nil {
					errs <- err
					return
				}
				k.complete(m, v)
				shootdowns.Add(1)
			}
		}()
	}
	time.Sleep(dur)
	stopFlushers.Store(true)
	flusherWG.Wait() // flushers first: workers keep polling until every shootdown returned
	stopWorkers.Store(true)
	workers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "worker or flusher")
	}
	total := d.Stats()
	return hammerResult{stats: tlb.Stats(), uses: k.uses.Load(), stale: k.stale.Load(), first: k.first,
		shootdowns: int(shootdowns.Load()), domainIPIs: total.IPIs, domainDefers: total.Deferred}
}

// runWorker is one pinned CPU's loop.
func runWorker(d *ctdefer.Domain, tlb *lazytlb.TLB, k *checker, mms [hammerMMs]*lazytlb.MM, n int, seed uint64, stop *atomic.Bool) error {
	c, err := d.Claim(n)
	if err != nil {
		return err
	}
	defer c.Release()
	tc, err := tlb.Attach(c)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	for !stop.Load() {
		mm := mms[0]
		if rng.IntN(4) == 0 {
			mm = mms[1]
		}
		tc.SwitchTo(mm) // in the kernel: a context switch to a task of mm
		k.use(n, mm, "after SwitchTo")
		c.UserEnter() // the task's hot loop uses mm
		for range 1 + rng.IntN(32) {
			k.use(n, mm, "in user mode")
			c.Poll() // a forced flush IPI interrupts here
		}
		c.KernelEnter()
		switch rng.IntN(8) {
		case 0: // switch away for good: other work without mm
			tc.Leave()
			for range rng.IntN(16) {
				c.Poll()
			}
		default: // a kernel thread borrows mm: lazy
			tc.EnterLazy()
			for range rng.IntN(16) {
				c.Poll()
			}
			if rng.IntN(2) == 0 {
				tc.SwitchBack()
				k.use(n, mm, "after SwitchBack")
			}
		}
	}
	if tc.MM() != nil {
		tc.Leave()
	}
	return nil
}

// hammerCovered checks one hammer round under policy p (failing the test
// on any violation) and reports whether the round took the policy's own
// path: a lazy CPU marked (lazy), an IPI sent (eager), a lazy CPU skipped
// (flush-on-switch).
func hammerCovered(t *testing.T, p lazytlb.Policy, r hammerResult) bool {
	t.Helper()
	require.Zero(t, r.stale, "no stale translation: %s", r.first)
	require.NotZero(t, r.shootdowns, "the flushers ran")
	require.NotZero(t, r.uses, "the workers used the address spaces")
	require.Equal(t, r.stats.Shootdowns, uint64(r.shootdowns), "every shootdown is counted")
	require.Equal(t, r.stats.IPIs, r.domainIPIs, "every lazytlb IPI went through the Domain")
	st := r.stats
	require.Equal(t, st.CPUs, st.IPIs+st.Marked+st.AlreadyMarked+st.SkippedLazy+st.Left+st.Deferred,
		"each CPU found in a set is counted once: %v", st)
	switch p {
	case lazytlb.PolicyLazy:
		require.Equal(t, st.Marked, st.MarksSeen, "every mark was consumed (FLUSH never overwritten): %v", st)
		if st.Marked == 0 {
			t.Logf("no lazy CPU was marked in this round (a busy machine): another round")
		}
		return st.Marked != 0
	case lazytlb.PolicyEager:
		// Eager IPIs every CPU of the set, except one that left before
		// the re-check of the send (Left): never a mark.
		require.Zero(t, st.Marked+st.AlreadyMarked+st.SkippedLazy, "eager never marks or skips a lazy CPU: %v", st)
		require.Equal(t, st.CPUs, st.IPIs+st.Left, "eager: an IPI for each CPU still in the set, Left for the others: %v", st)
		return st.IPIs != 0
	case lazytlb.PolicyFlushOnSwitch:
		require.Zero(t, st.Marked, "flush-on-switch never marks: %v", st)
		return st.SkippedLazy != 0
	}
	return true
}

// mbox is a one-CPU IPI: the sender raises the flag and spins until the
// owner's poll has run the handler.
type mbox struct{ flag atomic.Uint32 }

func (m *mbox) send() {
	m.flag.Store(1)
	for m.flag.Load() != 0 {
		runtime.Gosched()
	}
}

func (m *mbox) poll(handle func()) {
	if m.flag.Load() != 0 {
		handle()
		m.flag.Store(0)
	}
}

// realSwitch is one CPU's lazy-TLB switch and a shootdown of its address
// space, with a one-CPU IPI.
type realSwitch struct {
	mbox
	t  *lazytlb.TLB
	c  *lazytlb.CPU
	mm *lazytlb.MM
}

func newRealSwitch(t testing.TB) *realSwitch {
	r := &realSwitch{}
	var err error
	r.t, err = lazytlb.NewWithSender([]int{0}, func(context.Context, int, bool) (ctdefer.Delivery, error) { r.send(); return ctdefer.IPI, nil },
		lazytlb.Options{Flush: func(int, *lazytlb.MM, uint64) {}})
	require.NoError(t, err)
	r.c, err = r.t.CPU(0)
	require.NoError(t, err)
	r.mm = r.t.NewMM("a")
	r.c.SwitchTo(r.mm)
	return r
}

func (r *realSwitch) enterLazy() { r.c.EnterLazy() }

func (r *realSwitch) switchBack() { r.c.SwitchBack() }

func (r *realSwitch) poll() { r.mbox.poll(func() { r.t.HandleIPI(0) }) }

func (r *realSwitch) flushed() uint64 {
	g := r.mm.Flushed(0)
	return g
}

func (r *realSwitch) shootdown() uint64 {
	res, err := r.t.Shootdown(context.Background(), r.mm)
	if err != nil {
		panic(err)
	}
	return res.Gen
}

// lostFlushes runs the owner for n switch backs (or until d passes) while a
// flusher shoots down in a loop, and counts the switch backs after which the
// owner used the address space at a generation older than one whose
// shootdown had returned: lost flushes (no stale translation broken).
func lostFlushes(impl *realSwitch, n int, d time.Duration) (lost, switches int) {
	var completed atomic.Uint64
	var ownerDone, flusherDone atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !ownerDone.Load() {
			completed.Store(impl.shootdown())
		}
		flusherDone.Store(true)
	}()
	deadline := time.Now().Add(d)
	for switches = 0; switches < n && (switches%1024 != 0 || time.Now().Before(deadline)); switches++ {
		impl.enterLazy()
		impl.switchBack()
		// use the address space: no-stale-translation check (completed first: it only grows)
		if c := completed.Load(); impl.flushed() < c {
			lost++
		}
		impl.poll()
	}
	ownerDone.Store(true)
	for !flusherDone.Load() {
		impl.poll()
		runtime.Gosched()
	}
	wg.Wait()
	return lost, switches
}
