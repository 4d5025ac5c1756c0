package grace_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/grace"
)

// ExpeditedBarrier allocates nothing, whatever the number of CPUs in the
// kernel (it used stack lists of 16 and grew them on the heap past that).
// Mutant caught: grace-barrier-scratch-per-call.
func TestExpeditedBarrierAllocatesNothing(t *testing.T) {
	if grace.Instrumented {
		t.Skip("the explorer's instrumented atomics allocate")
	}
	for _, n := range []int{17, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := simulatedKernel(t, n)
			ctx := context.Background()
			require.NoError(t, g.ExpeditedBarrier(ctx)) // the pool's first list
			// AllocsPerRun counts the whole process's allocations. With
			// n owners locked to their threads, a loaded machine makes
			// the runtime start an M now and then (newm, allocm) and
			// run GC workers, which allocate on their own account. So
			// the count is the least of three measurements: an
			// allocation made by every barrier shows in all three; the
			// runtime's, on a busy machine, in one at a time.
			allocs := math.Inf(1)
			for range 3 {
				allocs = min(allocs, testing.AllocsPerRun(5, func() {
					if err := g.ExpeditedBarrier(ctx); err != nil {
						t.Fatal(err)
					}
				}))
			}
			require.Zero(t, allocs, "allocations per ExpeditedBarrier with %d CPUs in the kernel", n)
		})
	}
}

// BenchmarkExpeditedBarrierKernel: every simulated CPU in the kernel,
// polling: one IPI each per barrier. The time is the owners' scheduling on
// the real CPUs; allocs/op is the point.
func BenchmarkExpeditedBarrierKernel(b *testing.B) {
	for _, n := range []int{64, 1024} {
		b.Run(fmt.Sprint("cpus=", n), func(b *testing.B) {
			g := simulatedKernel(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := g.ExpeditedBarrier(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSimulatedUser: n simulated CPUs, every owner in user mode, blocked
// there. A grace period (Synchronize) or an expedited barrier reads each
// CPU's claimed flag and word and interrupts none: ns/cpu is the slope of the
// cost model in the package documentation, allocs/op must stay 0 at any n.
func BenchmarkSimulatedUser(b *testing.B) {
	for _, n := range []int{64, 1024} {
		g := simulatedUser(b, n)
		ctx := context.Background()
		for _, op := range []struct {
			name string
			call func(context.Context) error
		}{{"Synchronize", g.Synchronize}, {"ExpeditedBarrier", g.ExpeditedBarrier}} {
			b.Run(fmt.Sprintf("%s/cpus=%d", op.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.call(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cpu")
			})
		}
		if st := g.Stats(); st.Nudges != 0 || st.BarrierIPIs != 0 {
			b.Fatalf("a CPU was interrupted: %+v", st)
		}
	}
}
