package grace_test

import (
	"context"
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

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

var tortureFor = flag.Duration("grace.torture", 2*time.Second, "duration of TestTorture (200ms under -short or -race)")

// TestTorture is rcutorture for package grace.
//
// Readers, one per CPU but one (pinned where the platform allows), spend
// almost all their time in read-side critical sections: kernel stretches of
// 1 to 20µs, and one in twenty of 100 to 500µs (longer than NudgeAfter, so
// grace periods nudge them and they report at Checkpoint), each holding one
// reference to the published object across poll points. Between stretches
// they Checkpoint (70%: no quiescent state unless asked), make a short
// user-mode round trip (a transition, 30%) or, rarely, idle (0.05%: an Idle
// takes a timer's wake-up, up to a millisecond on a loaded machine, and the
// updater's samples would crowd into those windows).
//
// The updater replaces the object, pausing a random 0 to 10µs between
// updates (rcutorture's writer delay, so that grace periods begin at random
// points of the readers' stretches), and frees (poisons) every object it
// unpublished, by one of three paths in turn: Retire (half of them),
// Synchronize then free, or Start then free once a later Poll reports the
// token complete; Barrier now and then. At the end it waits for
// everything: every unpublished object is freed. Waiters spin for 200µs
// before sleeping, so that a grace period ends close to the transition or
// report that completes it, not at the next millisecond tick.
//
// Checks, on every read of the held object: it is not poisoned; and its age
// in grace periods, the completed count now minus the count the updater
// loaded just after unpublishing it, goes into the "Reader Pipe" histogram.
// rcutorture's rule: age 0 or 1 is legitimate (the one grace period that
// completed may have begun before the object was unpublished), age 2 or
// more is a bug: the second grace period began after the first ended, hence
// after the unpublishing, and the reader, which loaded the pointer before
// that and is still in the same stretch, should have held it up.
// Mutants caught: none.
func TestTorture(t *testing.T) {
	dur := *tortureFor
	if testing.Short() || raceEnabled {
		dur = 200 * time.Millisecond
	}
	// Readers spin on their CPUs; the updater and the reclaimer need Ps too.
	defer runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))

	// Readers on every CPU but one, which the updater, the reclaimer and
	// the runtime keep (the isolated-CPU layout ctdefer is for). With a
	// reader on every CPU, the updater would run mostly while readers
	// park, so its grace periods would find them idle and test little.
	n := max(1, runtime.NumCPU()-1)
	f := newFixture(t, n, grace.Options{NudgeAfter: 100 * time.Microsecond, MaxPending: 1024, SpinWait: 200 * time.Microsecond})
	gps := f.g.GracePeriodsCompleted
	var cur atomic.Pointer[tortureObject]
	cur.Store(&tortureObject{})
	var stop atomic.Bool
	type readerStats struct {
		reads, retiredReads, stretches, long, idles, poisoned uint64
		held, idle, total                                     time.Duration
		pipe                                                  [pipeLen]uint64
	}
	rs := make([]readerStats, len(f.cpus))
	var readers sync.WaitGroup
	for i, cpu := range f.cpus {
		readers.Add(1)
		f.owner(cpu, func(c *ctdefer.CPU) {
			defer readers.Done()
			st := &rs[i]
			rng := rand.New(rand.NewPCG(uint64(cpu), 1))
			begin := time.Now()
			for !stop.Load() && !c.Closing() {
				// One read-side critical section: a kernel stretch
				// holding p, with poll points (not quiescent states).
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
					if r := p.retiredAt.Load(); r != 0 {
						age = gps() - (r - 1) // loaded after r: at least r-1
						st.retiredReads++
					}
					st.pipe[min(age, pipeLen-1)]++
				}
				st.held += time.Since(t0)
				st.stretches++
				switch r := rng.IntN(10_000); {
				case r < 7000:
					f.g.Checkpoint(c) // reference dropped: report if asked
				case r < 9995:
					c.UserEnter()
					for range rng.IntN(200) {
						c.Poll()
					}
					c.KernelEnter()
				default:
					t1 := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Microsecond)
					_ = c.Idle(ctx)
					cancel()
					st.idle += time.Since(t1)
					st.idles++
				}
			}
			st.total = time.Since(begin)
		})
	}

	up := tortureUpdates(t, f.g, &cur, gps, dur)
	stop.Store(true)
	readers.Wait()

	var total readerStats
	for _, s := range rs {
		total.reads += s.reads
		total.retiredReads += s.retiredReads
		total.stretches += s.stretches
		total.long += s.long
		total.idles += s.idles
		total.poisoned += s.poisoned
		total.held += s.held
		total.idle += s.idle
		total.total += s.total
		for k := range s.pipe {
			total.pipe[k] += s.pipe[k]
		}
	}
	gs := f.g.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "grace torture: %v, %d CPUs (pinned %v), GOMAXPROCS %d\n", dur, len(f.cpus), !unpinned, runtime.GOMAXPROCS(0))
	b.WriteString(up.String())
	fmt.Fprintf(&b, "  grace periods %d (started %d), nudges %d, reports %d, retired %d, reclaimed %d\n",
		gs.GracePeriods, gs.Started, gs.Nudges, gs.Reports, gs.Retired, gs.Reclaimed)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / max(total.total.Seconds(), 1e-9) }
	fmt.Fprintf(&b, "  readers: %d stretches (%d long), holding a reference %.0f%% of the time, idle %.0f%% (%d idles); %d reads, %d of unpublished objects; poisoned reads %d\n",
		total.stretches, total.long, pct(total.held), pct(total.idle), total.idles, total.reads, total.retiredReads, total.poisoned)
	fmt.Fprintf(&b, "  Reader Pipe (grace periods since unpublished, per read; 0 includes published): %v; any entry past bucket 1 is a bug\n", total.pipe)
	ok := total.poisoned == 0 && total.pipe[2] == 0 && total.pipe[3] == 0 &&
		up.freed == up.updates && gs.Retired == gs.Reclaimed
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
