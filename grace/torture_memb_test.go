package grace_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/grace"
)

var membTortureFor = flag.Duration("grace.membtorture", 10*time.Second, "duration of TestMembTorture's membarrier run, a quarter of it for the fenced run (500ms under -short)")

// TestMembTorture is rcutorture for the memb flavour, with 64 reader
// goroutines and no pinning: GOMAXPROCS is what it is, so readers are
// preempted and moved between threads inside their sections.
//
// Each reader loops: Lock, load the published object, read it for 1 to 64
// iterations (one section in 64 yields the processor inside, one in 1,024
// sleeps 50µs inside: a section may block), sometimes with a nested
// Lock/Unlock around part of it, Unlock. One section in 4,096 ends with an
// Unregister and a new Register (registrations concurrent with grace
// periods).
//
// The updater is the other torture tests' (tortureUpdates): it replaces
// the object, frees (poisons) every object it unpublished by Retire,
// Synchronize then free, or Start then free once Poll says so, Barrier now
// and then, and waits for everything at the end.
//
// Checks on every read: not poisoned, and the object's age in grace periods
// since its unpublishing (the "Reader Pipe"): 0 or 1 is legitimate, 2 or
// more is a bug. The run prints the counts and SUCCESS or FAILURE.
func TestMembTorture(t *testing.T) {
	dur := *membTortureFor
	if testing.Short() {
		dur = 500 * time.Millisecond
	}
	for i, mode := range membModes {
		d := dur
		if i > 0 {
			d = dur / 4 // the fenced fallback: the same protocol with fences, a shorter run
		}
		t.Run(mode.name, func(t *testing.T) { membTorture(t, mode.make(grace.Options{MaxPending: 1024}), d) })
	}
}

func membTorture(t *testing.T, g *grace.Domain, dur time.Duration) {
	const readers = 64
	gps := func() uint64 { return grace.MembCompleted(g) }
	var cur atomic.Pointer[tortureObject]
	cur.Store(&tortureObject{})
	var stop atomic.Bool
	type readerStats struct {
		reads, retiredReads, sections, nested, yields, sleeps, reregs, poisoned uint64
		pipe                                                                    [pipeLen]uint64
	}
	rs := make([]readerStats, readers)
	var wg sync.WaitGroup
	for i := range readers {
		h, err := g.Register()
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &rs[i]
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			read := func(p *tortureObject, n int) {
				for range n {
					st.reads++
					if p.poison.Load() {
						st.poisoned++
					}
					age := uint64(0)
					if ra := p.retiredAt.Load(); ra != 0 {
						age = gps() - (ra - 1)
						st.retiredReads++
					}
					st.pipe[min(age, pipeLen-1)]++
				}
			}
			for !stop.Load() {
				h.Lock()
				p := cur.Load()
				read(p, 1+rng.IntN(32))
				switch x := rng.IntN(1024); {
				case x == 0:
					time.Sleep(50 * time.Microsecond) // blocks inside the section
					st.sleeps++
				case x < 16:
					runtime.Gosched() // preempted inside the section, perhaps moved
					st.yields++
				case x < 256:
					h.Lock()
					read(cur.Load(), 4)
					h.Unlock()
					st.nested++
				}
				read(p, 1+rng.IntN(32))
				h.Unlock()
				st.sections++
				if rng.IntN(4096) == 0 {
					h.Unregister()
					var err error
					if h, err = g.Register(); err != nil {
						t.Error(err)
						return
					}
					st.reregs++
				}
			}
			h.Unregister()
		}()
	}

	up := tortureUpdates(t, g, &cur, gps, dur)
	stop.Store(true)
	wg.Wait()

	var total readerStats
	for _, s := range rs {
		total.reads += s.reads
		total.retiredReads += s.retiredReads
		total.sections += s.sections
		total.nested += s.nested
		total.yields += s.yields
		total.sleeps += s.sleeps
		total.reregs += s.reregs
		total.poisoned += s.poisoned
		for k := range s.pipe {
			total.pipe[k] += s.pipe[k]
		}
	}
	st := g.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "memb torture: %v, %d reader goroutines, GOMAXPROCS %d, membarrier %v\n", dur, readers, runtime.GOMAXPROCS(0), st.Membarrier)
	b.WriteString(up.String())
	fmt.Fprintf(&b, "  grace periods %d (started %d), membarrier calls %d, waiter sleeps %d, retired %d, reclaimed %d\n",
		st.GracePeriods, st.Started, st.Membarriers, st.Sleeps, st.Retired, st.Reclaimed)
	fmt.Fprintf(&b, "  readers: %d sections (%d nested, %d yields and %d sleeps inside), %d re-registrations; %d reads, %d of unpublished objects; poisoned reads %d\n",
		total.sections, total.nested, total.yields, total.sleeps, total.reregs, total.reads, total.retiredReads, total.poisoned)
	fmt.Fprintf(&b, "  Reader Pipe (grace periods since unpublished, per read; 0 includes published): %v; any entry past bucket 1 is a bug\n", total.pipe)
	ok := total.poisoned == 0 && total.pipe[2] == 0 && total.pipe[3] == 0 &&
		up.freed == up.updates && st.Retired == st.Reclaimed
	if ok {
		b.WriteString("  SUCCESS")
	} else {
		b.WriteString("  FAILURE")
	}
	t.Log(b.String())
	require.True(t, ok, "torture failed:\n%s", b.String())
	require.Positive(t, total.pipe[0], "readers never saw a current object")
	require.Positive(t, total.retiredReads, "readers never held an object across its unpublishing: the torture tests nothing")
	require.NoError(t, g.Close(ctxFor(t, faultLimit)))
}
