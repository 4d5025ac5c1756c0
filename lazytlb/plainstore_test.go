package lazytlb_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/mutant"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// switchImpl is one CPU's lazy-TLB switch and a shootdown of its address
// space: the real package, or a copy from internal/mutant.
type switchImpl interface {
	enterLazy()
	switchBack()
	poll()                   // owner's poll point: handle a pending IPI
	shootdown() (gen uint64) // returns once the shootdown returned
	flushed() uint64         // the generation the CPU flushed to (owner)
}

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
	g, _ := r.mm.Flushed(0)
	return g
}

func (r *realSwitch) shootdown() uint64 {
	res, err := r.t.Shootdown(context.Background(), r.mm)
	if err != nil {
		panic(err)
	}
	return res.Gen
}

// mutantSwitch adapts mutant.PlainStore and mutant.SwapSwitch.
type mutantSwitch[M interface {
	EnterLazy()
	SwitchBack() bool
	HandleIPI()
	Shootdown(func()) (uint64, bool)
	Flushed() uint64
}] struct {
	mbox
	m M
}

func (s *mutantSwitch[M]) enterLazy()      { s.m.EnterLazy() }
func (s *mutantSwitch[M]) switchBack()     { s.m.SwitchBack() }
func (s *mutantSwitch[M]) poll()           { s.mbox.poll(s.m.HandleIPI) }
func (s *mutantSwitch[M]) flushed() uint64 { return s.m.Flushed() }
func (s *mutantSwitch[M]) shootdown() uint64 {
	g, _ := s.m.Shootdown(s.send)
	return g
}

// lostFlushes runs the owner for n switch backs (or until d passes) while a
// flusher shoots down in a loop, and counts the switch backs after which the
// owner used the address space at a generation older than one whose
// shootdown had returned: lost flushes (no stale translation broken).
func lostFlushes(impl switchImpl, n int, d time.Duration) (lost, switches int) {
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

// The race of Rik van Riel's 2016 patch "make lazy TLB mode even lazier"
// under real concurrency: the plain read-then-store switch back loses
// flushes; lazytlb's swap, and the mutant package's swap control, lose none.
func TestPlainStoreLosesFlushes(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the race needs two CPUs running at once")
	}
	defer runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0)))
	n, d := 1_000_000, 3*time.Second
	if testing.Short() || raceEnabled {
		n, d = 100_000, time.Second
	}
	realLost, realN := lostFlushes(newRealSwitch(t), n, d)
	ctlLost, ctlN := lostFlushes(&mutantSwitch[*mutant.SwapSwitch]{m: new(mutant.SwapSwitch)}, n, d)
	// The race needs the flusher's CAS to land between the owner's load and
	// store, with both running at once: on a loaded machine that may take
	// several rounds. Keep going until the first loss or the budget ends.
	budget := 20 * time.Second
	if testing.Short() || raceEnabled {
		budget = 10 * time.Second
	}
	var plainLost, plainN int
	for start := time.Now(); plainLost == 0 && time.Since(start) < budget; {
		l, k := lostFlushes(&mutantSwitch[*mutant.PlainStore]{m: new(mutant.PlainStore)}, n, d)
		plainLost, plainN = plainLost+l, plainN+k
	}
	t.Logf("plain-store: %d lost flushes in %d switches; lazytlb: %d in %d; control swap copy: %d in %d",
		plainLost, plainN, realLost, realN, ctlLost, ctlN)
	require.Zero(t, realLost, "lazytlb lost flushes in %d switches", realN)
	require.Zero(t, ctlLost, "the swap control lost flushes in %d switches: the checker is wrong", ctlN)
	require.NotZero(t, plainLost, "the plain-store switch lost no flush in %d switches: the test no longer reaches the 2016 patch's race", plainN)
}
