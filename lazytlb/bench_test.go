package lazytlb_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// The question of Rik van Riel's 2016 patch "make lazy TLB mode even
// lazier", "how expensive is a cmpxchg at context switch on modern CPUs":
// the switch back from lazy written several ways, on a padded word, side by
// side in one run (BenchmarkSwitchBack/<contention>/<way>):
//
//	swap          lazytlb's switch back: one XCHG
//	cas           load + CAS loop: LOCK CMPXCHG
//	atomic-store  the patch's read-then-store (wrong), with Go's atomic
//	              Store, which is itself an XCHG on amd64 (sequential
//	              consistency): Go cannot make the wrong variant cheaper
//	plain-store   the patch's read-then-store as the kernel wrote it, two
//	              MOVs (this_cpu_read, this_cpu_write): a non-atomic
//	              access through unsafe, in bench_plain_test.go, built only
//	              without -race (it races with the shootdown storm by
//	              design, which is the bug being priced)
//	lock          the patch's option 2: a per-CPU lock that shootdowns take
//	              to mark the CPU; the switch side already holds it (the
//	              runqueue lock of the context switch), so its state
//	              accesses are plain ones inside that critical section.
//	              The critical sections the switch would take anyway are
//	              in the loop too (lock and unlock around EnterLazy and
//	              around the switch back), and in its baseline.
//
// Each iteration is EnterLazy then the switch back. EnterLazy is modelled
// as the kernel's this_cpu_write(state, LAZY): a plain store (an atomic one
// under -race, where the numbers mean nothing), so that its cost does not
// mask the switch back's. Each benchmark first runs the same loop untimed
// with its baseline (EnterLazy and a load, no write; for lock, the same
// lock and unlock with no state access), under the same storm, and reports
// it as base-ns/op and the difference as net-ns/op: the switch back's own
// cost, call overhead removed. For lock under contention, net-ns/op is
// noise: its baseline contends for the same lock with the storm, and that
// contention, not the state accesses, is option 2's cost; compare its ns/op
// with the uncontended one instead.
//
// Uncontended: nobody else touches the word. Contended: another goroutine
// plays a shootdown storm on the same word (load, CAS Lazy -> Flush; for
// lock: lock, test, store, unlock), so the line bounces between CPUs, as
// "the cache line needs to be acquired for write anyway" in the patch.
//
// BenchmarkCPUSwitchBack* is the real package: EnterLazy + SwitchBack on
// a lazytlb.CPU. Its EnterLazy is an atomic store through atomicx, an XCHG
// in Go on amd64: two XCHGs per iteration, where the kernel pays one.

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

func BenchmarkSwitchBack(b *testing.B) {
	for _, contended := range []bool{false, true} {
		name := "uncontended"
		if contended {
			name = "contended"
		}
		b.Run(name, func(b *testing.B) {
			for _, way := range switchWays {
				b.Run(way.name, func(b *testing.B) { benchSwitchBack(b, contended, way) })
			}
		})
	}
}

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

func BenchmarkCPUSwitchBackUncontended(b *testing.B) { benchCPUSwitchBack(b, false) }
func BenchmarkCPUSwitchBackContended(b *testing.B)   { benchCPUSwitchBack(b, true) }

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
	tlb, err := lazytlb.New(d, lazytlb.Options{Policy: p, Flush: nopFlush})
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

func BenchmarkTLBShootdownLazy(b *testing.B) {
	benchShootdown(b, lazytlb.PolicyLazy, targetLazyInPlace)
}
func BenchmarkTLBShootdownLazySwitch(b *testing.B) {
	benchShootdown(b, lazytlb.PolicyLazy, targetLazySwitch)
}
func BenchmarkTLBShootdownActive(b *testing.B) { benchShootdown(b, lazytlb.PolicyLazy, targetActive) }
func BenchmarkTLBShootdownEager(b *testing.B) {
	benchShootdown(b, lazytlb.PolicyEager, targetLazyInPlace)
}

// BenchmarkShootdownSimulated: a Shootdown of an address space that n
// simulated CPUs hold lazily (a TLB made by NewWithSender; the benchmark's
// goroutine plays every CPU and re-arms it between shootdowns, outside the
// timing). Each CPU costs one CAS on its own line and no IPI: ns/cpu is the
// slope of the cost model in the package documentation, allocs/op must stay
// 0 at any n.
func BenchmarkShootdownSimulated(b *testing.B) {
	for _, n := range []int{64, 1024} {
		b.Run(fmt.Sprint("cpus=", n), func(b *testing.B) {
			cpus := make([]int, n)
			for i := range cpus {
				cpus[i] = i
			}
			var t *lazytlb.TLB
			// Never called while every CPU is lazy: a shootdown that
			// needed an IPI would flush here, on the goroutine that
			// plays every CPU, and fail the marked check below.
			send := func(_ context.Context, cpu int, _ bool) (ctdefer.Delivery, error) {
				t.HandleIPI(cpu)
				return ctdefer.IPI, nil
			}
			t, err := lazytlb.NewWithSender(cpus, send, lazytlb.Options{Flush: nopFlush})
			if err != nil {
				b.Fatal(err)
			}
			mm := t.NewMM("simulated")
			hs := make([]*lazytlb.CPU, n)
			for i, cpu := range cpus {
				if hs[i], err = t.CPU(cpu); err != nil {
					b.Fatal(err)
				}
				hs[i].SwitchTo(mm)
				hs[i].EnterLazy()
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r, err := t.Shootdown(ctx, mm)
				if err != nil {
					b.Fatal(err)
				}
				if r.Marked != n || r.IPIs != 0 {
					b.Fatalf("shootdown of %d lazy CPUs: %+v", n, r)
				}
				b.StopTimer()
				for _, h := range hs {
					h.Rearm() // Flush -> Lazy
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cpu")
			for _, h := range hs {
				h.SwitchBack()
				h.Leave()
			}
		})
	}
}
