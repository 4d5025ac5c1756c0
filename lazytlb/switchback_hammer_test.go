package lazytlb_test

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// mbox is a one-CPU IPI: the sender raises the flag and spins until the
// owner's poll has run the handler.
type mbox struct{ flag atomic.Uint32 }

func (m *mbox) send() {
	m.flag.Store(1)
	for m.flag.Load() != 0 {
		runtime.Gosched()
	}
}

func (m *mbox) poll(handle func()) {
	if m.flag.Load() != 0 {
		handle()
		m.flag.Store(0)
	}
}

// realSwitch is one CPU's lazy-TLB switch and a shootdown of its address
// space, with a one-CPU IPI.
type realSwitch struct {
	mbox
	t  *lazytlb.TLB
	c  *lazytlb.CPU
	mm *lazytlb.MM
}

func newRealSwitch(t testing.TB) *realSwitch {
	r := &realSwitch{}
	var err error
	r.t, err = lazytlb.NewWithSender([]int{0}, func(context.Context, int, bool) (ctdefer.Delivery, error) { r.send(); return ctdefer.IPI, nil },
		lazytlb.Options{Flush: func(int, *lazytlb.MM, uint64) {}})
	require.NoError(t, err)
	r.c, err = r.t.CPU(0)
	require.NoError(t, err)
	r.mm = r.t.NewMM("a")
	r.c.SwitchTo(r.mm)
	return r
}

func (r *realSwitch) enterLazy()  { r.c.EnterLazy() }
func (r *realSwitch) switchBack() { r.c.SwitchBack() }
func (r *realSwitch) poll()       { r.mbox.poll(func() { r.t.HandleIPI(0) }) }
func (r *realSwitch) flushed() uint64 {
	g := r.mm.Flushed(0)
	return g
}

func (r *realSwitch) shootdown() uint64 {
	res, err := r.t.Shootdown(context.Background(), r.mm)
	if err != nil {
		panic(err)
	}
	return res.Gen
}

// lostFlushes runs the owner for n switch backs (or until d passes) while a
// flusher shoots down in a loop, and counts the switch backs after which the
// owner used the address space at a generation older than one whose
// shootdown had returned: lost flushes (no stale translation broken).
func lostFlushes(impl *realSwitch, n int, d time.Duration) (lost, switches int) {
	var completed atomic.Uint64
	var ownerDone, flusherDone atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !ownerDone.Load() {
			completed.Store(impl.shootdown())
		}
		flusherDone.Store(true)
	}()
	deadline := time.Now().Add(d)
	for switches = 0; switches < n && (switches%1024 != 0 || time.Now().Before(deadline)); switches++ {
		impl.enterLazy()
		impl.switchBack()
		// use the address space: no-stale-translation check (completed first: it only grows)
		if c := completed.Load(); impl.flushed() < c {
			lost++
		}
		impl.poll()
	}
	ownerDone.Store(true)
	for !flusherDone.Load() {
		impl.poll()
		runtime.Gosched()
	}
	wg.Wait()
	return lost, switches
}

// TestSwitchBackLosesNoFlushes: under real concurrency, an owner going lazy
// and back in a loop while a flusher shoots down never uses the address
// space below a generation whose shootdown has returned (no stale
// translation). The plain read-then-store switch back of Rik van Riel's 2016
// patch "make lazy TLB mode even lazier" loses flushes here:
// switch-back-plain-store-hammer in verify/mutants/catalogue.txt applies it
// to lazytlb and requires this test to fail.
func TestSwitchBackLosesNoFlushes(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the race needs two CPUs running at once")
	}
	defer runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	// The race needs the flusher's CAS to land between the owner's load and
	// store, with both running at once: on a loaded machine a mutant may
	// take millions of switches to show it, so the run is bounded by time.
	d := 3 * time.Second
	if testing.Short() || raceEnabled {
		d = 2 * time.Second
	}
	lost, switches := lostFlushes(newRealSwitch(t), math.MaxInt, d)
	t.Logf("lazytlb: %d lost flushes in %d switches", lost, switches)
	require.Zero(t, lost, "lazytlb lost flushes in %d switches", switches)
}
