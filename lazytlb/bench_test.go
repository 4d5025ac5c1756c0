package lazytlb_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer/lazytlb"
)

// The seed's question, "how expensive is a cmpxchg at context switch on
// modern CPUs": the switch back from lazy (EnterLazy's store plus the switch
// back) written five ways, side by side in one run:
//
//	BenchmarkCPUSwitchBack*      package lazytlb (a swap)
//	BenchmarkSwitchBackSwap*     a bare swap on a padded word
//	BenchmarkSwitchBackCAS*      load + CAS loop
//	BenchmarkSwitchBackStore*    the seed's plain read-then-store (wrong)
//	BenchmarkSwitchBackLock*     the seed's option 2: a per-CPU lock that
//	                             shootdowns take too
//
// Go's atomic Store is itself an XCHG on amd64 (sequential consistency), so
// the "plain store" line is a load plus an XCHG, where the seed's
// this_cpu_write is a MOV: on amd64 Go cannot make the wrong variant cheaper
// than the swap.
//
// Uncontended: nobody else touches the word. Contended: another goroutine
// plays a shootdown storm on the same word (load, CAS Lazy -> Flush), so
// the line bounces between CPUs, as "the cache line needs to be acquired
// for write anyway" in the seed.

type rawWord struct {
	v  atomic.Uint64
	mu sync.Mutex
	_  cpu.CacheLinePad
}

const (
	rawOK    = uint64(lazytlb.OK)
	rawLazy  = uint64(lazytlb.Lazy)
	rawFlush = uint64(lazytlb.Flush)
)

// flushes counts switch backs that found Flush, so the compiler keeps the
// reads.
var flushes int

func benchSwitchBack(b *testing.B, contended bool, switchBack func(w *rawWord) uint64, storm func(w *rawWord)) {
	w := new(rawWord)
	w.v.Store(rawOK)
	stop := startStorm(b, contended, func() { storm(w) })
	defer stop()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w.v.Store(rawLazy) // EnterLazy
		if switchBack(w) == rawFlush {
			n++
		}
	}
	flushes += n
	b.ReportMetric(float64(n)/float64(b.N), "marks/op")
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

func lockStorm(w *rawWord) {
	if w.v.Load() == rawLazy { // seed option 2: check, then lock and re-check
		w.mu.Lock()
		if w.v.Load() == rawLazy {
			w.v.Store(rawFlush)
		}
		w.mu.Unlock()
	}
}

func swapBack(w *rawWord) uint64 { return w.v.Swap(rawOK) }

func casBack(w *rawWord) uint64 {
	for {
		old := w.v.Load()
		if w.v.CompareAndSwap(old, rawOK) {
			return old
		}
	}
}

func storeBack(w *rawWord) uint64 {
	old := w.v.Load()
	w.v.Store(rawOK)
	return old
}

func lockBack(w *rawWord) uint64 {
	w.mu.Lock()
	old := w.v.Load()
	w.v.Store(rawOK)
	w.mu.Unlock()
	return old
}

func BenchmarkSwitchBackSwapUncontended(b *testing.B) { benchSwitchBack(b, false, swapBack, casStorm) }
func BenchmarkSwitchBackCASUncontended(b *testing.B)  { benchSwitchBack(b, false, casBack, casStorm) }
func BenchmarkSwitchBackStoreUncontended(b *testing.B) {
	benchSwitchBack(b, false, storeBack, casStorm)
}
func BenchmarkSwitchBackLockUncontended(b *testing.B) { benchSwitchBack(b, false, lockBack, lockStorm) }
func BenchmarkSwitchBackSwapContended(b *testing.B)   { benchSwitchBack(b, true, swapBack, casStorm) }
func BenchmarkSwitchBackCASContended(b *testing.B)    { benchSwitchBack(b, true, casBack, casStorm) }
func BenchmarkSwitchBackStoreContended(b *testing.B)  { benchSwitchBack(b, true, storeBack, casStorm) }
func BenchmarkSwitchBackLockContended(b *testing.B)   { benchSwitchBack(b, true, lockBack, lockStorm) }

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
		if tlb.State(0) == lazytlb.Lazy { // shoot down only lazy CPUs: the storm sends no IPI
			_, _ = tlb.Shootdown(ctx, mm)
		}
	})
	defer stop()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		c.EnterLazy()
		if c.SwitchBack() {
			n++
		}
	}
	b.ReportMetric(float64(n)/float64(b.N), "flushes/op")
}

func BenchmarkCPUSwitchBackUncontended(b *testing.B) { benchCPUSwitchBack(b, false) }
func BenchmarkCPUSwitchBackContended(b *testing.B)   { benchCPUSwitchBack(b, true) }

// Shootdown cost by the target's state, with 1 and 2 target CPUs (pinned
// workers), per CPU so that larger machines can be extrapolated:
//
//	BenchmarkTLBShootdownLazy    targets lazy: no IPI, one CAS (or one load
//	                             if still marked from the previous one)
//	BenchmarkTLBShootdownActive  targets OK, polling in user mode: one IPI
//	                             round trip each
//	BenchmarkTLBShootdownEager   PolicyEager, targets lazy: one IPI each
//
// The shootdown runs on the benchmark goroutine (unpinned). With 2 targets
// on a 2-CPU machine it shares a CPU with a spinning worker, so the IPI
// figures for cpus=2 include time slicing; cpus=1 leaves it a CPU of its
// own.
func benchShootdown(b *testing.B, p lazytlb.Policy, lazy bool) {
	all := upToCPUs(b, 2)
	for n := 1; n <= 2; n++ {
		b.Run(fmt.Sprintf("cpus=%d", n), func(b *testing.B) {
			if len(all) < n {
				b.Skipf("needs %d CPUs, have %v", n, all)
			}
			cpus := all[len(all)-n:] // cpus=1 takes the last CPU, leaving the first to the flusher
			benchShootdownOn(b, cpus, p, lazy)
		})
	}
}

func benchShootdownOn(b *testing.B, cpus []int, p lazytlb.Policy, lazy bool) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(6, runtime.GOMAXPROCS(0))))
	d := newDomain(b, cpus)
	tlb, err := lazytlb.New(d, lazytlb.Options{Policy: p, Flush: nopFlush})
	if err != nil {
		b.Fatal(err)
	}
	mm := tlb.NewMM("a")
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
				if lazy && tc.State() == lazytlb.Flush { // re-arm: switch back and go lazy again
					tc.SwitchBack()
					tc.EnterLazy()
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
	var ipis, skipped int
	b.ReportAllocs()
	for b.Loop() {
		r, err := tlb.Shootdown(ctx, mm)
		if err != nil {
			b.Fatal(err)
		}
		ipis += r.IPIs
		skipped += r.Skipped()
	}
	b.StopTimer()
	stop.Store(true)
	done.Wait()
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/float64(len(cpus)), "ns/cpu")
	b.ReportMetric(float64(ipis)/float64(b.N), "ipis/op")
	b.ReportMetric(float64(skipped)/float64(b.N), "skipped/op")
}

func BenchmarkTLBShootdownLazy(b *testing.B)   { benchShootdown(b, lazytlb.PolicyLazy, true) }
func BenchmarkTLBShootdownActive(b *testing.B) { benchShootdown(b, lazytlb.PolicyLazy, false) }
func BenchmarkTLBShootdownEager(b *testing.B)  { benchShootdown(b, lazytlb.PolicyEager, true) }
