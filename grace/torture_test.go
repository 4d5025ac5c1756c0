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

var tortureFor = flag.Duration("grace.torture", 2*time.Second, "duration of TestTorture (200ms under -short)")

// tortureObject is what the updater publishes. pipe is rcutorture's pipe
// count: 0 while published, 1 once replaced (its grace period running),
// 2 once its grace period is over and it has been freed (poisoned).
type tortureObject struct {
	gen    uint64
	pipe   atomic.Uint32
	poison atomic.Bool
}

const pipeLen = 3 // buckets 0, 1, 2+

// TestTorture is rcutorture for package grace: readers on pinned CPUs
// dereference the published object inside kernel stretches, holding it
// across poll points, checkpointing only between stretches; an updater
// replaces it and frees the old one after a grace period, alternately via
// Retire and Synchronize, with barriers now and then. A freed object is
// poisoned; a reader that sees poison, or an object whose grace period is
// over (pipe 2: "Reader Pipe" past bucket 1), counts an error.
func TestTorture(t *testing.T) {
	dur := *tortureFor
	if testing.Short() || raceEnabled {
		dur = 200 * time.Millisecond
	}
	// Readers spin on their CPUs; the updater and the reclaimer need Ps too.
	defer runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 4))

	f := newFixture(t, 0, grace.Options{NudgeAfter: 100 * time.Microsecond, MaxPending: 1024})
	var cur atomic.Pointer[tortureObject]
	cur.Store(&tortureObject{})
	var stop atomic.Bool
	type readerStats struct {
		reads, stretches, idles, poisoned uint64
		pipe                              [pipeLen]uint64
	}
	rs := make([]readerStats, len(f.cpus))
	var readers sync.WaitGroup
	for i, cpu := range f.cpus {
		readers.Add(1)
		f.owner(cpu, func(c *ctdefer.CPU) {
			defer readers.Done()
			st := &rs[i]
			rng := rand.New(rand.NewPCG(uint64(cpu), 1))
			for !stop.Load() && !c.Closing() {
				// One kernel stretch: the read-side critical section.
				p := cur.Load()
				for range 1 + rng.IntN(64) {
					c.Poll() // a poll point, reference held
					st.reads++
					if p.poison.Load() {
						st.poisoned++
					}
				}
				st.pipe[min(int(p.pipe.Load()), pipeLen-1)]++
				st.stretches++
				switch r := rng.IntN(100); {
				case r < 60:
					f.g.Checkpoint(c) // reference dropped: report if asked
				case r < 95:
					c.UserEnter()
					for range rng.IntN(200) {
						c.Poll()
					}
					if r < 70 {
						runtime.Gosched()
					}
					c.KernelEnter()
				default:
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Microsecond)
					_ = c.Idle(ctx)
					cancel()
					st.idles++
				}
			}
		})
	}

	var updates, retires, syncs, barriers uint64
	ctx := ctxFor(t, dur+30*time.Second)
	start := time.Now()
	var latency time.Duration
	for gen := uint64(1); time.Since(start) < dur; gen++ {
		old := cur.Swap(&tortureObject{gen: gen})
		old.pipe.Store(1)
		free := func() { old.pipe.Store(2); old.poison.Store(true) }
		updates++
		switch gen % 4 {
		case 0, 1:
			require.NoError(t, f.g.Retire(free), "Retire")
			retires++
		case 2:
			s := time.Now()
			require.NoError(t, f.g.Synchronize(ctx), "Synchronize")
			latency += time.Since(s)
			syncs++
			free()
		case 3:
			if gen%64 == 3 {
				require.NoError(t, f.g.Barrier(ctx), "Barrier")
				barriers++
			}
		}
	}
	require.NoError(t, f.g.Barrier(ctx), "final Barrier")
	stop.Store(true)
	readers.Wait()

	var total readerStats
	for _, s := range rs {
		total.reads += s.reads
		total.stretches += s.stretches
		total.idles += s.idles
		total.poisoned += s.poisoned
		for k := range s.pipe {
			total.pipe[k] += s.pipe[k]
		}
	}
	gs := f.g.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "grace torture: %v, %d CPUs (pinned %v), GOMAXPROCS %d\n", dur, len(f.cpus), !unpinned, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "  updates %d (retire %d, synchronize %d, barriers %d); mean Synchronize %v\n",
		updates, retires, syncs, barriers, latency/time.Duration(max(syncs, 1)))
	fmt.Fprintf(&b, "  grace periods %d (started %d), nudges %d, reports %d, retired %d, reclaimed %d\n",
		gs.GracePeriods, gs.Started, gs.Nudges, gs.Reports, gs.Retired, gs.Reclaimed)
	fmt.Fprintf(&b, "  reads %d in %d kernel stretches (%d idles); poisoned reads %d\n", total.reads, total.stretches, total.idles, total.poisoned)
	fmt.Fprintf(&b, "  Reader Pipe: %v (staleness in grace periods; any entry past bucket 1 is a bug)\n", total.pipe)
	ok := total.poisoned == 0 && total.pipe[2] == 0 && gs.Retired == gs.Reclaimed
	if ok {
		b.WriteString("  SUCCESS")
	} else {
		b.WriteString("  FAILURE")
	}
	t.Log(b.String())
	require.True(t, ok, "torture failed:\n%s", b.String())
	require.Positive(t, total.pipe[0], "readers never saw a current object")
}
