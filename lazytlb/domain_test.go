package lazytlb_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

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

// A kernel-range shootdown of a CPU in user mode is deferred with a
// context-tracking work bit: no interruption; it completes at the CPU's
// next kernel entry, which runs the flush before returning.
func TestKernelRangeDeferredOnDomain(t *testing.T) {
	d, tlb, mm, log, w, cpus := oneWorker(t)
	w.do(func(c *ctdefer.CPU) {
		tc, err := tlb.Attach(c)
		require.NoError(t, err)
		tc.SwitchTo(mm)
		c.UserEnter()
	})
	done := make(chan lazytlb.Result)
	go func() {
		r, err := tlb.Shootdown(context.Background(), mm, lazytlb.KernelRange())
		if err != nil {
			panic(err)
		}
		done <- r
	}()
	require.Eventually(t, func() bool {
		s, err := d.Snapshot(cpus[0])
		return err == nil && s.Work() != 0
	}, 5*time.Second, time.Millisecond, "the flush is deferred as a work bit in the CPU's word")
	select {
	case r := <-done:
		t.Fatalf("Shootdown returned before the CPU entered the kernel: %v", r)
	default:
	}
	require.Zero(t, log.count(), "nothing flushed while the CPU stays in user mode")
	w.do(func(c *ctdefer.CPU) {
		c.KernelEnter()
		require.Equal(t, 1, log.count(), "KernelEnter ran the flush before returning")
		tc, _ := tlb.Attach(c)
		tc.Leave()
	})
	r := <-done
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, Deferred: 1}, r, "one deferred delivery, no IPI")
	st, err := d.Stats(cpus[0])
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Deferred, "the Domain deferred it: %v", st)
	require.Zero(t, st.IPIs, "and sent no IPI: %v", st)
}

// A user-range shootdown of a CPU in user mode is a forced IPI, handled at
// the hot loop's next Poll.
func TestActiveShootdownIPIsUserMode(t *testing.T) {
	d, tlb, mm, log, w, cpus := oneWorker(t)
	var polled bool
	w.do(func(c *ctdefer.CPU) {
		tc, _ := tlb.Attach(c)
		tc.SwitchTo(mm)
		c.UserEnter()
	})
	loop := w.async(func(c *ctdefer.CPU) {
		for !polled {
			polled = c.Poll()
		}
		c.KernelEnter()
	})
	r, err := tlb.Shootdown(context.Background(), mm)
	require.NoError(t, err)
	<-loop
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "one IPI")
	require.True(t, polled, "the hot loop's Poll handled it")
	require.Equal(t, flushRec{cpus[0], "a", 1}, log.last(), "the flush ran on the CPU, to generation 1")
	st, _ := d.Stats(cpus[0])
	require.Equal(t, uint64(1), st.IPIsInUser, "handled in user mode: %v", st)
	w.do(func(c *ctdefer.CPU) { tc, _ := tlb.Attach(c); tc.Leave() })
}
