package grace_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// simulatedKernel is a Domain of n unpinned CPUs whose owners stay in the
// kernel, polling (and yielding, so that n owners share the real CPUs):
// every ExpeditedBarrier must post an IPI to each and wait for all.
func simulatedKernel(tb testing.TB, n int) *grace.Domain {
	return simulated(tb, n, func(c *ctdefer.CPU, ready func(), stop *atomic.Bool) {
		ready()
		for !stop.Load() && !c.Closing() {
			c.Poll()
			runtime.Gosched()
		}
	})
}

// simulatedUser is a Domain of n unpinned CPUs whose owners are in user
// mode, blocked there as isolated workers are between kernel entries: a
// grace period or an expedited barrier reads two lines per CPU and sends
// nothing.
func simulatedUser(tb testing.TB, n int) *grace.Domain {
	release := make(chan struct{})
	g := simulated(tb, n, func(c *ctdefer.CPU, ready func(), _ *atomic.Bool) {
		c.UserEnter()
		ready()
		<-release
		c.KernelEnter()
	})
	tb.Cleanup(func() { close(release) }) // runs before simulated's cleanup
	return g
}

// simulated claims n unpinned CPUs, each on a goroutine of its own that runs
// owner (which calls ready once in its steady state, and returns when stop
// is set), then releases the CPU. It returns once every owner is ready.
func simulated(tb testing.TB, n int, owner func(c *ctdefer.CPU, ready func(), stop *atomic.Bool)) *grace.Domain {
	tb.Helper()
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
	require.NoError(tb, err)
	// A spin longer than any barrier here: the wait never sleeps.
	g, err := grace.New(d, grace.Options{SpinWait: time.Minute})
	require.NoError(tb, err)
	var stop atomic.Bool
	var wg sync.WaitGroup
	ready := make(chan error, 1)
	for _, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Claim(cpu)
			if err != nil {
				ready <- err
				return
			}
			defer func() { _ = c.Release() }()
			owner(c, func() { ready <- nil }, &stop)
		}()
		require.NoError(tb, <-ready)
	}
	tb.Cleanup(func() {
		stop.Store(true)
		wg.Wait()
		_ = g.Close(context.Background())
		_ = d.Close(context.Background())
	})
	return g
}

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
