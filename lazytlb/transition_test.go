package lazytlb_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/lazytlb"
)

// One test per transition of the state word and per shootdown decision.
// The test goroutine plays the owners; the sender runs the IPI handler
// inline (see direct).

// SwitchTo moves an Off CPU to OK and into the address space's set, without
// a flush at generation 0.
// Mutants caught: none.
func TestJoinOffToOK(t *testing.T) {
	d := newDirect(t, []int{0, 1}, lazytlb.PolicyLazy)
	c := d.cpu(t, 1)
	mm := d.t.NewMM("a")
	require.Equal(t, lazytlb.Off, c.State(), "a fresh CPU has nothing loaded")
	require.False(t, c.SwitchTo(mm), "joining an MM at generation 0 needs no flush")
	require.Equal(t, lazytlb.OK, c.State(), "after SwitchTo the CPU is OK")
	require.Equal(t, []int{1}, mm.CPUs(), "the CPU is in the MM's set")
	require.Same(t, mm, c.MM(), "the MM is loaded")
	require.False(t, c.SwitchTo(mm), "SwitchTo of the active MM does nothing")
}

// SwitchTo an address space whose generation moved on while the CPU was away
// flushes, and counts a join flush.
// Mutants caught: none.
func TestJoinFlushesWhenBehind(t *testing.T) {
	d := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	c := d.cpu(t, 0)
	mm := d.t.NewMM("a")
	r := d.shootdown(t, mm) // no CPU in the set
	require.Equal(t, 0, r.CPUs, "nobody has mm loaded: %v", r)
	require.True(t, c.SwitchTo(mm), "joining behind the generation flushes")
	require.Equal(t, flushRec{0, "a", 1}, d.log.last(), "the flush reached generation 1")
	require.Equal(t, uint64(1), flushedOf(t, mm, 0), "Flushed records the generation")
	require.Equal(t, uint64(1), d.t.Stats().JoinFlushes, "counted as a join flush")
}

// EnterLazy moves an OK CPU to Lazy.
// Mutants caught: none.
func TestEnterLazyOKToLazy(t *testing.T) {
	d, c, _ := oneCPU(t, lazytlb.PolicyLazy, false)
	require.Equal(t, lazytlb.OK, c.State(), "active before")
	c.EnterLazy()
	require.Equal(t, lazytlb.Lazy, c.State(), "EnterLazy stores Lazy")
	require.Equal(t, lazytlb.Lazy, d.t.State(0), "TLB.State sees it too")
}

// A shootdown sends an OK CPU an IPI, whose handler flushes to the new
// generation.
// Mutants caught: none.
func TestShootdownOKSendsIPI(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, false)
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "an OK CPU gets an IPI")
	require.Equal(t, []send{{0, false}}, d.sends, "one forced IPI to CPU 0")
	require.Equal(t, uint64(1), flushedOf(t, mm, 0), "the IPI handler flushed to the new generation")
	require.Equal(t, lazytlb.OK, c.State(), "the state is unchanged")
}

// Mutant caught: shootdown-marks-nothing.
func TestShootdownLazyToFlush(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, true)
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, Marked: 1}, r, "a lazy CPU is marked, not interrupted")
	require.Empty(t, d.sends, "no IPI")
	require.Equal(t, lazytlb.Flush, c.State(), "Lazy -> Flush")
	require.Zero(t, d.log.count(), "no flush yet: the CPU does not use mm")
}

// A shootdown finds a CPU marked already and needs nothing: Flush stays
// Flush, and no IPI is sent.
// Mutants caught: none.
func TestShootdownFlushStaysFlush(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, true)
	d.shootdown(t, mm)
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 2, CPUs: 1, AlreadyMarked: 1}, r, "an already-marked CPU needs nothing")
	require.Equal(t, lazytlb.Flush, c.State(), "Flush stays Flush")
	st := d.t.Stats()
	require.Equal(t, uint64(2), st.Marked+st.AlreadyMarked+st.SkippedLazy+st.Left, "two IPIs avoided in all (one mark, one already marked): %+v", st)
	require.Zero(t, st.IPIs, "and none sent: %v", st)
}

// The switch back of a marked CPU flushes once, to the newest generation,
// and returns it to OK.
// Mutants caught: none.
func TestSwitchBackFlushToOK(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, true)
	d.shootdown(t, mm)
	d.shootdown(t, mm)
	require.True(t, c.SwitchBack(), "a marked CPU behind the generation flushes")
	require.Equal(t, lazytlb.OK, c.State(), "Flush -> OK")
	require.Equal(t, flushRec{0, "a", 2}, d.log.last(), "one flush, to the newest generation")
	require.Equal(t, 1, d.log.count(), "two marks, one flush")
	st := d.t.Stats()
	require.Equal(t, uint64(1), st.MarksSeen, "the Flush state was consumed: %v", st)
	require.Equal(t, uint64(1), st.SwitchFlushes, "counted as a switch flush: %v", st)
}

// The switch back of a lazy CPU that no shootdown marked returns it to OK
// without a flush.
// Mutants caught: none.
func TestSwitchBackLazyToOK(t *testing.T) {
	_, c, _ := oneCPU(t, lazytlb.PolicyLazy, true)
	require.False(t, c.SwitchBack(), "no shootdown: no flush")
	require.Equal(t, lazytlb.OK, c.State(), "Lazy -> OK")
}

// A marked CPU that was flushed meanwhile (here by a kernel-range flush,
// which is delivered whatever the state) drops the overtaken flush.
// Mutant caught: flush-when-level.
func TestSwitchBackOvertakenFlush(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, true)
	d.shootdown(t, mm)
	r := d.shootdownKernel(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 2, CPUs: 1, Deferred: 1}, r, "kernel range goes through the deferral path")
	require.Equal(t, []send{{0, true}}, d.sends, "delivered as kernel-range work")
	require.Equal(t, lazytlb.Flush, c.State(), "kernel range leaves the lazy state alone")
	require.False(t, c.SwitchBack(), "the flush was overtaken by the kernel-range flush")
	require.Equal(t, 1, d.log.count(), "one flush in all")
	require.Equal(t, uint64(1), d.t.Stats().MarksSeen, "the mark was still consumed")
}

// Leave moves the CPU to Off and out of the address space's set: a shootdown
// no longer considers it.
// Mutants caught: none.
func TestLeaveToOff(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, false)
	c.Leave()
	require.Equal(t, lazytlb.Off, c.State(), "OK -> Off")
	require.Empty(t, mm.CPUs(), "the CPU left the set")
	require.Nil(t, c.MM(), "nothing loaded")
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1}, r, "a shootdown no longer considers the CPU")
}

// A mark dropped by Leave is made up for by the generation test at rejoin.
// Mutants caught: none.
func TestLeaveFlushThenRejoin(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyLazy, true)
	d.shootdown(t, mm)
	c.Leave()
	require.Equal(t, lazytlb.Off, c.State(), "Flush -> Off")
	require.Zero(t, d.log.count(), "leaving does not flush")
	require.True(t, c.SwitchTo(mm), "rejoining behind the generation flushes")
	require.Equal(t, flushRec{0, "a", 1}, d.log.last(), "to the generation of the dropped mark")
}

// SwitchTo another address space leaves the first one's set, so the first
// one's shootdowns skip the CPU.
// Mutants caught: none.
func TestSwitchToOtherMMLeavesFirst(t *testing.T) {
	d := newDirect(t, []int{0}, lazytlb.PolicyLazy)
	c := d.cpu(t, 0)
	a, b := d.t.NewMM("a"), d.t.NewMM("b")
	c.SwitchTo(a)
	c.EnterLazy()
	c.SwitchTo(b)
	require.Empty(t, a.CPUs(), "the CPU left a")
	require.Equal(t, []int{0}, b.CPUs(), "and joined b")
	require.Equal(t, lazytlb.OK, c.State(), "active on b")
	r := d.shootdown(t, a)
	require.Zero(t, r.CPUs, "a's shootdown skips the CPU: %v", r)
}

// PolicyEager sends an IPI to a lazy CPU too, and never marks it.
// Mutants caught: none.
func TestEagerIPIsLazyCPU(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyEager, true)
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, IPIs: 1}, r, "eager interrupts lazy CPUs too")
	require.Equal(t, lazytlb.Lazy, c.State(), "and never marks")
	require.Equal(t, uint64(1), flushedOf(t, mm, 0), "the IPI flushed")
	require.False(t, c.SwitchBack(), "nothing left to flush at switch back")
}

// Under PolicyFlushOnSwitch a shootdown skips a lazy CPU without marking it,
// and its switch back flushes to the new generation.
// Mutants caught: none.
func TestFlushOnSwitchSkipsLazy(t *testing.T) {
	d, c, mm := oneCPU(t, lazytlb.PolicyFlushOnSwitch, true)
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 1, SkippedLazy: 1}, r, "lazy CPUs are skipped unmarked")
	require.Equal(t, lazytlb.Lazy, c.State(), "not marked")
	require.True(t, c.SwitchBack(), "the switch back flushes")
	require.Equal(t, uint64(1), flushedOf(t, mm, 0), "to the new generation")
}

// Under PolicyFlushOnSwitch every switch back flushes, with or without a
// shootdown.
// Mutants caught: none.
func TestFlushOnSwitchAlwaysFlushes(t *testing.T) {
	d, c, _ := oneCPU(t, lazytlb.PolicyFlushOnSwitch, false)
	for i := range 3 {
		c.EnterLazy()
		require.True(t, c.SwitchBack(), "switch back %d flushes without any shootdown", i)
	}
	require.Equal(t, 3, d.log.count(), "one flush per switch back")
}

// A kernel-range shootdown reaches active and lazy CPUs alike, through the
// kernel-range path, and marks no one.
// Mutants caught: none.
func TestKernelRangeReachesEveryCPU(t *testing.T) {
	d := newDirect(t, []int{0, 1, 2}, lazytlb.PolicyLazy)
	mm := d.t.NewMM("a")
	c0, c1 := d.cpu(t, 0), d.cpu(t, 2)
	c0.SwitchTo(mm)
	c1.SwitchTo(mm)
	c1.EnterLazy()
	r := d.shootdownKernel(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 2, Deferred: 2}, r, "active and lazy CPUs alike")
	require.Equal(t, []send{{0, true}, {2, true}}, d.sends, "both through the kernel-range path")
	require.Equal(t, lazytlb.Lazy, c1.State(), "the lazy CPU is not marked")
}

// Shootdown visits CPUs in the second word of the set (slot 64 and up).
// Mutants caught: none.
func TestShootdownManyCPUs(t *testing.T) {
	cpus := make([]int, 130)
	for i := range cpus {
		cpus[i] = i
	}
	d := newDirect(t, cpus, lazytlb.PolicyLazy)
	mm := d.t.NewMM("a")
	for _, n := range []int{0, 63, 64, 129} {
		c := d.cpu(t, n)
		c.SwitchTo(mm)
		c.EnterLazy()
	}
	require.Equal(t, []int{0, 63, 64, 129}, mm.CPUs(), "the set spans three words")
	r := d.shootdown(t, mm)
	require.Equal(t, lazytlb.Result{Gen: 1, CPUs: 4, Marked: 4}, r, "every CPU of the set is visited")
	for _, n := range []int{0, 63, 64, 129} {
		require.Equal(t, lazytlb.Flush, d.t.State(n), "CPU %d marked", n)
	}
}
