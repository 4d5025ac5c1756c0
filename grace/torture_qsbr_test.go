package grace_test

import (
	"context"
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

// TestQSBRTorture is rcutorture for the QSBR flavour, with the readers in
// user mode, in their hot loop.
//
// Readers, one per CPU but one (pinned where the platform allows), enter
// user mode once and stay there, holding one reference to the published
// object across bursts of 1 to 20µs (one in twenty of 100 to 500µs), with
// poll points inside (not quiescent states). Between bursts they report
// (Quiescent, 99%), or go Offline, sleep a little and come back Online
// (0.9%), or park in Idle with the reference dropped (0.1%).
//
// The updater replaces the object (random pauses of 0 to 10µs between
// updates) and frees (poisons) every object it unpublished by Retire (half),
// Synchronize then free, or Start then free once Poll says so; Barrier now
// and then. At the end it waits for everything.
//
// Checks on every read of the held object: not poisoned, and its age in
// grace periods (completed now minus completed just after the unpublishing
// Swap) goes into the "Reader Pipe" histogram: 0 or 1 is legitimate, 2 or
// more is a bug (a grace period that began after the unpublishing ended
// while this reader, which loaded the pointer before it, had not reported).
// Mutants caught: none.
func TestQSBRTorture(t *testing.T) {
	dur := *tortureFor
	if testing.Short() || raceEnabled {
		dur = 200 * time.Millisecond
	}
	defer runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))

	n := max(1, runtime.NumCPU()-1)
	f := newQFixture(t, n, grace.Options{MaxPending: 1024, SpinWait: 200 * time.Microsecond})
	gps := func() uint64 { return grace.QSBRCompleted(f.q) }
	var cur atomic.Pointer[tortureObject]
	cur.Store(&tortureObject{})
	var stop atomic.Bool
	type readerStats struct {
		reads, retiredReads, bursts, long, offlines, idles, poisoned uint64
		pipe                                                         [pipeLen]uint64
	}
	rs := make([]readerStats, len(f.cpus))
	var readers sync.WaitGroup
	for i, cpu := range f.cpus {
		readers.Add(1)
		claimed := make(chan error, 1)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer readers.Done()
			c, err := f.d.Claim(cpu)
			claimed <- err
			if err != nil {
				return
			}
			defer func() { _ = c.Release() }()
			r := f.q.Reader(c)
			defer r.Offline()
			c.UserEnter()
			defer c.KernelEnter()
			st := &rs[i]
			rng := rand.New(rand.NewPCG(uint64(cpu), 3))
			for !stop.Load() && !c.Closing() {
				hold := time.Duration(1+rng.IntN(20)) * time.Microsecond
				if rng.IntN(20) == 0 {
					hold = time.Duration(100+rng.IntN(400)) * time.Microsecond
					st.long++
				}
				t0 := time.Now()
				p := cur.Load()
				for k := 0; ; k++ {
					if k%16 == 0 {
						if time.Since(t0) >= hold {
							break
						}
						c.Poll() // a poll point, reference held
					}
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
				st.bursts++
				switch x := rng.IntN(1000); {
				case x < 990:
					r.Quiescent() // reference dropped
				case x < 999:
					r.Offline()
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					r.Online()
					st.offlines++
				default:
					c.KernelEnter()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Microsecond)
					_ = c.Idle(ctx) // parked: offline for the flavour
					cancel()
					c.UserEnter()
					st.idles++
				}
			}
		}()
		require.NoError(t, <-claimed, "Claim(%d)", cpu)
	}

	up := tortureUpdates(t, f.q, &cur, gps, dur)
	stop.Store(true)
	readers.Wait()

	var total readerStats
	for _, s := range rs {
		total.reads += s.reads
		total.retiredReads += s.retiredReads
		total.bursts += s.bursts
		total.long += s.long
		total.offlines += s.offlines
		total.idles += s.idles
		total.poisoned += s.poisoned
		for k := range s.pipe {
			total.pipe[k] += s.pipe[k]
		}
	}
	qs := f.q.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "QSBR torture: %v, %d readers in user mode (pinned %v), GOMAXPROCS %d\n", dur, len(f.cpus), !unpinned, runtime.GOMAXPROCS(0))
	b.WriteString(up.String())
	fmt.Fprintf(&b, "  grace periods %d (started %d), waiter sleeps %d, wake-ups %d, retired %d, reclaimed %d\n",
		qs.GracePeriods, qs.Started, qs.Sleeps, qs.Wakeups, qs.Retired, qs.Reclaimed)
	fmt.Fprintf(&b, "  readers: %d bursts (%d long), %d offline stretches, %d idles; %d reads, %d of unpublished objects; poisoned reads %d\n",
		total.bursts, total.long, total.offlines, total.idles, total.reads, total.retiredReads, total.poisoned)
	fmt.Fprintf(&b, "  Reader Pipe (grace periods since unpublished, per read; 0 includes published): %v; any entry past bucket 1 is a bug\n", total.pipe)
	ok := total.poisoned == 0 && total.pipe[2] == 0 && total.pipe[3] == 0 &&
		up.freed == up.updates && qs.Retired == qs.Reclaimed
	if ok {
		b.WriteString("  SUCCESS")
	} else {
		b.WriteString("  FAILURE")
	}
	t.Log(b.String())
	require.True(t, ok, "torture failed:\n%s", b.String())
	require.Positive(t, total.pipe[0], "readers never saw a current object")
	require.Positive(t, total.retiredReads, "readers never held an object across its unpublishing: the torture tests nothing")
}
