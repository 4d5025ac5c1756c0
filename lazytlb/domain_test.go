package lazytlb_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/internal/corelink"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// A kernel-range shootdown of a CPU in user mode is deferred with a
// context-tracking work bit and returns at once: the CPU runs the flush at
// its next kernel entry, before any kernel-mode code, so nothing is gained
// by waiting for that entry. Here the CPU stays in user mode, polling, for
// as long as the test likes; the shootdown neither interrupts nor waits for
// it (with DeferWait it would time out).
// Mutants caught: none.
func TestKernelRangeDeferredOnDomain(t *testing.T) {
	d, tlb, mm, log, w, cpus := oneWorker(t)
	var stop atomic.Bool
	w.do(func(c *ctdefer.CPU) {
		tc, err := tlb.Attach(c)
		require.NoError(t, err)
		tc.SwitchTo(mm)
		c.UserEnter()
	})
	loop := w.async(func(c *ctdefer.CPU) {
		for !stop.Load() {
			c.Poll() // a hot loop in user mode: no IPI pending, so no kernel entry
		}
	})
	// A shootdown that waited for the kernel entry would wait until ctx
	// ends (a minute): the bound below tells the two apart with room for a
	// loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	r, err := tlb.ShootdownKernel(ctx, mm)
	took := time.Since(start)
	require.NoError(t, err, "a deferred kernel-range flush is done as far as the shootdown is concerned")
	require.Less(t, took, 30*time.Second, "returned without waiting for the CPU's kernel entry")
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, Deferred: 1}, r, "one deferred delivery, no IPI")
	snap, ok := corelink.Of[ctdefer.CPU](d).Snapshot(cpus[0])
	require.True(t, ok, "CPU %d is the Domain's", cpus[0])
	require.NotZero(t, snap.Work(), "the flush waits as a work bit in the CPU's word")
	require.Zero(t, log.count(), "nothing flushed while the CPU stays in user mode")
	stop.Store(true)
	<-loop
	w.do(func(c *ctdefer.CPU) {
		c.KernelEnter()
		require.Equal(t, 1, log.count(), "KernelEnter ran the flush before returning")
		require.Equal(t, flushRec{cpus[0], "a", 1}, log.last(), "to generation 1")
		tc, _ := tlb.Attach(c)
		tc.Leave()
	})
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.Deferred, "the Domain deferred it: %v", st)
	require.Zero(t, st.IPIs, "and sent no IPI: %v", st)
	require.Equal(t, uint64(1), tlb.Stats().Deferred, "counted as deferred: %v", tlb.Stats())
}

// A kernel-range shootdown of a CPU in the kernel is an IPI, waited for,
// and counted as one.
// Mutants caught: none.
func TestKernelRangeIPIOnDomain(t *testing.T) {
	_, tlb, mm, log, w, cpus := oneWorker(t)
	var stop atomic.Bool
	w.do(func(c *ctdefer.CPU) {
		tc, _ := tlb.Attach(c)
		tc.SwitchTo(mm) // in the kernel
	})
	loop := w.async(func(c *ctdefer.CPU) {
		for !stop.Load() {
			c.Poll()
		}
	})
	r, err := tlb.ShootdownKernel(context.Background(), mm)
	stop.Store(true)
	<-loop
	require.NoError(t, err)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "an IPI, waited for")
	require.Equal(t, flushRec{cpus[0], "a", 1}, log.last(), "the flush ran before Shootdown returned")
	w.do(func(c *ctdefer.CPU) { tc, _ := tlb.Attach(c); tc.Leave() })
}

// The reviewer's repro of Leave then Release racing with a shootdown in
// flight: under PolicyEager, CPUs A and B are in the set; the shootdown
// IPIs A first, and A's flush lets B's owner Leave and Release. The
// shootdown then reaches B, which it read in the set before B left: it must
// re-check and skip B, not post an IPI to a CPU nobody claims and wait for
// it until the timeout.
// Mutants caught: none.
func TestShootdownAfterLeaveAndRelease(t *testing.T) {
	const timeout = 3 * time.Second
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: timeout})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })
	leaveB, bDone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	tlb, err := lazytlb.New(d, lazytlb.WithPolicy(lazytlb.PolicyEager, lazytlb.Options{Flush: func(cpu int, _ *lazytlb.MM, _ uint64) {
		if cpu == 0 {
			once.Do(func() { close(leaveB); <-bDone }) // A's flush lets B leave and release
		}
	}}))
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	var stopA atomic.Bool
	readyA, readyB, doneA := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // A: active on mm, polling
		defer close(doneA)
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		tc, _ := tlb.Attach(c)
		tc.SwitchTo(mm)
		close(readyA)
		for !stopA.Load() {
			c.Poll()
		}
		tc.Leave()
		_ = c.Release()
	}()
	go func() { // B: active on mm, then leaves and releases when told
		defer close(bDone)
		c, err := d.Claim(1)
		if err != nil {
			panic(err)
		}
		tc, _ := tlb.Attach(c)
		tc.SwitchTo(mm)
		close(readyB)
		<-leaveB
		tc.Leave()
		_ = c.Release()
	}()
	<-readyA
	<-readyB
	start := time.Now()
	r, err := tlb.Shootdown(context.Background(), mm)
	took := time.Since(start)
	stopA.Store(true)
	<-doneA
	require.NoError(t, err)
	require.Less(t, took, timeout/3, "returned promptly, without waiting for the released CPU")
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 2, IPIs: 1, Left: 1}, r, "A got its IPI; B was re-checked and skipped")
	st := cpuStats(d, 1)
	require.Zero(t, st.IPIs, "no IPI was posted to B: %v", st)
}

// Release without Leave leaves the CPU in the set: shootdowns then panic
// at once (before any send) naming the CPU, and the next Attach to the CPU
// panics. Attach with
// the same claim returns the same handle.
// Mutants caught: none.
func TestReleaseWithoutLeave(t *testing.T) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, IPITimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: nopFlush})
	require.NoError(t, err)
	mm := tlb.NewMM("a")
	c, err := d.Claim(0)
	require.NoError(t, err)
	tc, err := tlb.Attach(c)
	require.NoError(t, err)
	again, err := tlb.Attach(c)
	require.NoError(t, err)
	require.Same(t, tc, again, "one handle per claim")
	tc.SwitchTo(mm)
	require.NoError(t, c.Release()) // the bug: no Leave

	start := time.Now()
	require.PanicsWithValue(t, `lazytlb: TLB.Shootdown: address space "a": CPU 0 is in its set but no worker has claimed it: its owner released it without CPU.Leave`,
		func() { _, _ = tlb.Shootdown(context.Background(), mm) }, "the CPU in the set has no owner")
	require.Less(t, time.Since(start), time.Second, "detected before sending, not after the IPI timeout")

	c2, err := d.Claim(0)
	require.NoError(t, err)
	defer func() { _ = c2.Release() }()
	require.PanicsWithValue(t, `lazytlb: TLB.Attach: CPU 0 still has address space "a" loaded: its previous owner released it without CPU.Leave`,
		func() { _, _ = tlb.Attach(c2) }, "the next owner is told")
}

// A user-range shootdown of a CPU in user mode is a forced IPI, handled at
// the hot loop's next Poll.
// Mutants caught: none.
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
	st := cpuStats(d, cpus[0])
	require.Equal(t, uint64(1), st.IPIsInUser, "handled in user mode: %v", st)
	w.do(func(c *ctdefer.CPU) { tc, _ := tlb.Attach(c); tc.Leave() })
}
