package lazytlb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/lazytlb"
)

// The switch paths and a shootdown that IPIs no one allocate nothing.
// Mutants caught: none.
func TestZeroAllocSwitchPaths(t *testing.T) {
	for _, p := range []lazytlb.Policy{lazytlb.PolicyLazy, lazytlb.PolicyEager, lazytlb.PolicyFlushOnSwitch} {
		d := newDirect(t, []int{0, 1}, p)
		c := d.cpu(t, 0)
		a, b := d.t.NewMM("a"), d.t.NewMM("b")
		c.SwitchTo(a)
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.EnterLazy()
			c.SwitchBack()
		}), "%v: EnterLazy + SwitchBack", p)
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			c.SwitchTo(b)
			c.EnterLazy()
			c.SwitchTo(a)
		}), "%v: SwitchTo another MM (leave + join) and back from lazy", p)
	}
	tlb, err := lazytlb.NewWithSender([]int{0}, nopSend, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err)
	c, err := tlb.CPU(0)
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	c.SwitchTo(mm)
	ctx := context.Background()
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		c.EnterLazy()
		_, _ = tlb.Shootdown(ctx, mm) // marks: no IPI
		c.SwitchBack()                // flushes
	}), "EnterLazy + Shootdown (mark) + SwitchBack with flush")
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		_, _ = tlb.Shootdown(ctx, mm) // IPI through the SendFunc
		_, _ = tlb.ShootdownKernel(ctx, mm)
	}), "Shootdown with IPIs and kernel range")
	require.Equal(t, uint64(3*1001), mm.Gen(), "every run (and the warm-up run of each) shot down")
}
