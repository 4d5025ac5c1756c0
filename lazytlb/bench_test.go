package lazytlb_test

import (
	"context"
	"fmt"
	"testing"

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

func BenchmarkCPUSwitchBackUncontended(b *testing.B) { benchCPUSwitchBack(b, false) }
func BenchmarkCPUSwitchBackContended(b *testing.B)   { benchCPUSwitchBack(b, true) }

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
