package ctdefer_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
)

// DeferAll delivers to the claimed CPUs only: an unclaimed CPU is skipped,
// absent from the result, and gets nothing (no IPI posted to its mailbox).
// Mutant caught: deferall-ignores-claim.
func TestDeferAllSkipsUnclaimedCPUs(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	w, err := d.Register("push", cnt.handler)
	require.NoError(t, err)

	outs, err := d.DeferAll(w)
	require.NoError(t, err, "no CPU claimed")
	require.Empty(t, outs, "no CPU claimed: nothing delivered")

	o := startOwner(t, d, 1)
	o.do(func(c *ctdefer.CPU) { c.UserEnter() })
	outs, err = d.DeferAll(w)
	require.NoError(t, err)
	require.Equal(t, []ctdefer.Outcome{{CPU: 1, Work: w, Delivery: ctdefer.Deferred}}, outs, "only the claimed CPU, deferred")
	o.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	require.Equal(t, 1, cnt.get(1), "the claimed CPU ran it")
	st := cpuStats(d, 0)
	require.Zero(t, st.IPIs, "nothing was posted to the unclaimed CPU")
	o.stop()
	require.NoError(t, d.Close(context.Background()), "nothing to hand back")
	require.Zero(t, cnt.get(0))
}

// DeferWaitAll sends to every CPU before it waits for any: here CPU 0
// runs its work only after CPU 1 has run its own, so a broadcast that
// waited for CPU 0 before sending to CPU 1 would never end.
// Mutant caught: deferwaitall-serial.
func TestDeferWaitAllSendsBeforeWaiting(t *testing.T) {
	d := edgeDomain(t)
	ran1 := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(ran1) }) }) // never leave the owner blocked
	cnt := newCounter()
	w, err := d.Register("push", func(cpu int) {
		cnt.handler(cpu)
		if cpu == 1 {
			once.Do(func() { close(ran1) })
		}
	})
	require.NoError(t, err)
	o := startOwner(t, d, 0) // in the kernel: the work goes by IPI
	polled := o.async(func(c *ctdefer.CPU) {
		<-ran1
		c.Poll()
	})
	idleWorker(t, d, 1)

	var outs []ctdefer.Outcome
	within(t, "DeferWaitAll", func() { outs, err = d.DeferWaitAll(ctxWithin(t, hangLimit), w) })
	require.NoError(t, err)
	require.Equal(t, []ctdefer.Outcome{{CPU: 0, Work: w, Delivery: ctdefer.IPI}, {CPU: 1, Work: w, Delivery: ctdefer.IPI}}, outs)
	require.Equal(t, 1, cnt.get(0))
	require.Equal(t, 1, cnt.get(1))
	<-polled
}

// DeferWaitAll's error names the CPUs where the work did not run and wraps
// each one's cause; the outcomes of the others are intact.
// Mutant caught: broadcast-error-drops-failures.
func TestDeferWaitAllNamesFailedCPUs(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	w, err := d.Register("push", cnt.handler, ctdefer.RemoteSafe())
	require.NoError(t, err)
	idleWorker(t, d, 0)      // parked: the work is run on its behalf
	o := startOwner(t, d, 1) // in the kernel, never polls during the call

	outs, err := d.DeferWaitAll(ctxWithin(t, 0), w) // the deadline ends the wait for CPU 1 only
	require.Equal(t, []int{0, 1}, []int{outs[0].CPU, outs[1].CPU})
	require.Equal(t, ctdefer.Outcome{CPU: 0, Work: w, Delivery: ctdefer.OnBehalf}, outs[0], "CPU 0 ran it")
	require.Equal(t, ctdefer.IPI, outs[1].Delivery)
	require.ErrorIs(t, outs[1].Err, context.DeadlineExceeded, "CPU 1's own error")
	require.ErrorContains(t, outs[1].Err, "ctdefer: DeferWaitAll(1, push)")

	require.ErrorIs(t, err, context.DeadlineExceeded, "errors.Is sees through to each CPU's error")
	require.True(t, strings.HasPrefix(err.Error(), "ctdefer: DeferWaitAll(push): failed on CPUs [1]"), err.Error())

	o.do(func(c *ctdefer.CPU) { c.Poll() }) // the work was delivered all the same
	require.Equal(t, 1, cnt.get(1))
	require.Equal(t, 1, cnt.get(0))
}

// Without a deadline, IPITimeout ends the broadcast's waits: every CPU that
// did not run the work fails with ErrIPITimeout, none hangs.
// Mutants caught: none.
func TestDeferWaitAllIPITimeout(t *testing.T) {
	d := edgeDomain(t, func(o *ctdefer.Options) { o.IPITimeout = 1 })
	w, err := d.Register("push", func(int) {})
	require.NoError(t, err)
	_ = startOwner(t, d, 0)
	_ = startOwner(t, d, 1)
	var outs []ctdefer.Outcome
	within(t, "DeferWaitAll", func() { outs, err = d.DeferWaitAll(context.Background(), w) })
	require.ErrorContains(t, err, "failed on CPUs [0 1]")
	for _, o := range outs {
		require.ErrorIs(t, o.Err, ctdefer.ErrIPITimeout, "CPU %d", o.CPU)
	}
}

// A broadcast fails as a whole for an unregistered work or a closed
// Domain, naming the method; a Domain closed before the call hands nothing.
// Mutants caught: none.
func TestBroadcastValidation(t *testing.T) {
	d := edgeDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	other := edgeDomain(t)
	foreign, err := other.Register("foreign", func(int) {})
	require.NoError(t, err)
	calls := map[string]func(ctdefer.Work) ([]ctdefer.Outcome, error){
		"DeferAll":     d.DeferAll,
		"DeferWaitAll": func(w ctdefer.Work) ([]ctdefer.Outcome, error) { return d.DeferWaitAll(context.Background(), w) },
	}
	for name, call := range calls {
		for _, bad := range []ctdefer.Work{{}, foreign} {
			outs, err := call(bad)
			require.ErrorIs(t, err, ctdefer.ErrInvalid, name)
			require.True(t, strings.HasPrefix(err.Error(), "ctdefer.Domain."+name+": w "+bad.String()), "%s: %v", name, err)
			require.Nil(t, outs)
		}
	}
	require.NoError(t, d.Close(context.Background()))
	for name, call := range calls {
		outs, err := call(w)
		require.ErrorIs(t, err, ctdefer.ErrClosed, name)
		require.True(t, strings.HasPrefix(err.Error(), "ctdefer: "+name+"(w)"), "%s: %v", name, err)
		require.Nil(t, outs)
		require.NotContains(t, err.Error(), "failed on CPUs", "a closed Domain fails the call, not each CPU")
	}
}

// DeferWaitAll keeps each CPU counted as waited for until its wait ends: an
// owner publishes the completion of a drain only while someone waits, so a
// deferred delivery whose waiter stopped counting before the drain would
// never be seen complete. CPU 0 takes the work deferred, CPU 1 by IPI (sent
// after CPU 0's delivery, so once it is posted CPU 0's delivery is over);
// only then do the owners run it.
// Mutant caught: deferwaitall-waiters-early.
func TestDeferWaitAllCountsDeferredWaitersToTheEnd(t *testing.T) {
	d := edgeDomain(t)
	cnt := newCounter()
	w, err := d.Register("w", cnt.handler)
	require.NoError(t, err)
	o0, o1 := startOwner(t, d, 0), startOwner(t, d, 1)
	o0.do(func(c *ctdefer.CPU) { c.UserEnter() })
	type result struct {
		outs []ctdefer.Outcome
		err  error
	}
	res := make(chan result, 1)
	go func() {
		outs, err := d.DeferWaitAll(ctxWithin(t, hangLimit), w)
		res <- result{outs, err}
	}()
	eventually(t, "CPU 1's IPI posted", func() bool { s := cpuStats(d, 1); return s.IPIs == 1 })
	o0.do(func(c *ctdefer.CPU) { c.KernelEnter() })
	o1.do(func(c *ctdefer.CPU) { c.Poll() })
	r := mutWait(t, "DeferWaitAll", res)
	require.NoError(t, r.err, "the work ran on both CPUs, and DeferWaitAll saw it")
	require.Len(t, r.outs, 2)
	require.Equal(t, ctdefer.Deferred, r.outs[0].Delivery)
	require.Equal(t, ctdefer.IPI, r.outs[1].Delivery)
	require.Equal(t, 1, cnt.get(0))
	require.Equal(t, 1, cnt.get(1))
}
