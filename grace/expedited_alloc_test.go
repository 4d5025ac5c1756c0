package grace_test

import (
	"context"
	"fmt"
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
	tb.Helper()
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = i
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: cpus, Unpinned: true})
	require.NoError(tb, err)
	// A spin longer than any barrier here: the wait never sleeps, whose
	// first sleep allocates its timer.
	g, err := grace.New(d, grace.Options{SpinWait: time.Minute})
	require.NoError(tb, err)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, cpu := range cpus {
		claimed := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Claim(cpu)
			claimed <- err
			if err != nil {
				return
			}
			defer func() { _ = c.Release() }()
			for !stop.Load() && !c.Closing() {
				c.Poll()
				runtime.Gosched()
			}
		}()
		require.NoError(tb, <-claimed)
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
func TestExpeditedBarrierAllocatesNothing(t *testing.T) {
	for _, n := range []int{17, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := simulatedKernel(t, n)
			ctx := context.Background()
			require.NoError(t, g.ExpeditedBarrier(ctx)) // the pool's first list
			allocs := testing.AllocsPerRun(5, func() {
				if err := g.ExpeditedBarrier(ctx); err != nil {
					t.Fatal(err)
				}
			})
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
