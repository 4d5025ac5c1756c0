package ctdefer_test

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
)

var tortureItems = flag.Int("torture.items", 0, "items for TestTorture (0: 200,000; 20,000 with -short, -race or on 386)")

// TestTorture is the rcutorture-style run: pinned workers move between user
// mode, kernel mode (polling) and idle at random while three senders deliver
// numbered items, each to a random CPU, with at most one item in flight per
// (sender, CPU) so that every execution can be attributed. It counts sent,
// deferred, IPI'd, run on behalf, executed, duplicated and lost items, and a
// histogram of lateness: how many of the target's kernel entries passed
// between a deferred item's acceptance and its execution beyond the one that
// must run it. Only bucket 0 is legal. It ends with SUCCESS or FAILURE.
// Mutants caught: none.
func TestTorture(t *testing.T) {
	items := *tortureItems
	if items == 0 {
		items = 200_000
		if testing.Short() || raceEnabled || runtime.GOARCH == "386" {
			items = 20_000
		}
	}
	cpus := twoCPUs(t)
	opts := testOptions()
	opts.Debug = false
	opts.IPITimeout = 10 * time.Second
	d := newDomain(t, opts)

	const senders = 3
	type slotKey struct{ sender, cpu int }
	type track struct {
		want  atomic.Int64 // item in flight (written before Defer)
		runs  atomic.Int64 // executions of this key
		ranAt atomic.Int64 // the target's entry count when the last one ran
		dup   atomic.Int64
	}
	tracks := map[slotKey]*track{}
	works := map[slotKey]ctdefer.Work{}
	// entries[cpu]: kernel entries the owner has started (incremented just
	// before each transition that claims deferred work).
	entries := map[int]*atomic.Int64{}
	for _, cpu := range cpus {
		entries[cpu] = new(atomic.Int64)
	}
	for s := range senders {
		for _, cpu := range cpus {
			k := slotKey{s, cpu}
			tr := &track{}
			tracks[k] = tr
			var regOpts []ctdefer.RegisterOption
			if s == senders-1 {
				regOpts = append(regOpts, ctdefer.RemoteSafe()) // this sender's work may run on behalf
			}
			w, err := d.Register(fmt.Sprintf("s%d-cpu%d", s, cpu), func(on int) {
				if tr.runs.Add(1) > tr.want.Load() {
					tr.dup.Add(1)
				}
				tr.ranAt.Store(entries[on].Load())
			}, regOpts...)
			require.NoError(t, err)
			works[k] = w
		}
	}

	stop := stopAtCleanup(t)
	var owners sync.WaitGroup
	for i, cpu := range cpus {
		owners.Add(1)
		go func() {
			defer owners.Done()
			c, err := d.Claim(cpu)
			if err != nil {
				t.Errorf("Claim(%d): %v", cpu, err)
				return
			}
			defer c.Release()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			ent := entries[cpu]
			for !stop.Load() {
				switch r := rng.IntN(100); {
				case r < 70: // a user stretch, polling
					c.UserEnter()
					for range rng.IntN(200) {
						c.Poll() // an IPI found here interrupts: not counted as an entry
					}
					ent.Add(1)
					c.KernelEnter()
				case r < 95: // a kernel stretch, polling
					for range rng.IntN(50) {
						c.Poll()
					}
				default: // a short park
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(50))*time.Microsecond)
					_ = c.Idle(ctx)
					cancel()
				}
			}
		}()
	}

	var (
		sent, deferred, ipis, onBehalf, lost atomic.Int64
		hist                                 [4]atomic.Int64 // lateness 0, 1, 2, 3+
		failures                             = make(chan string, 16)
	)
	start := time.Now()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			for n := s; n < items; n += senders {
				cpu := cpus[rng.IntN(len(cpus))]
				k := slotKey{s, cpu}
				tr := tracks[k]
				want := tr.want.Add(1)
				how, err := d.Defer(cpu, works[k])
				after := entries[cpu].Load()
				if err != nil {
					failures <- fmt.Sprintf("Defer: %v", err)
					return
				}
				sent.Add(1)
				switch how {
				case ctdefer.Deferred:
					deferred.Add(1)
				case ctdefer.IPI:
					ipis.Add(1)
				case ctdefer.OnBehalf:
					onBehalf.Add(1)
				}
				deadline := time.Now().Add(5 * time.Second)
				for tr.runs.Load() < want {
					if time.Now().After(deadline) {
						lost.Add(1)
						failures <- fmt.Sprintf("item %d for CPU %d (%v) not run after 5s", n, cpu, how)
						return
					}
					runtime.Gosched()
				}
				if how == ctdefer.Deferred {
					// Accepted while the CPU was in user mode, at an entry
					// count <= after; it must run at the next entry.
					late := tr.ranAt.Load() - (after + 1)
					hist[min(max(late, 0), 3)].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	owners.Wait()
	elapsed := time.Since(start)

	var executed, dups int64
	for _, tr := range tracks {
		executed += tr.runs.Load()
		dups += tr.dup.Load()
	}
	close(failures)
	var msgs []string
	for m := range failures {
		msgs = append(msgs, m)
	}
	late := hist[1].Load() + hist[2].Load() + hist[3].Load()
	t.Logf("torture: %d items in %v (%.0f/s): sent=%d deferred=%d ipi=%d on-behalf=%d executed=%d duplicated=%d lost=%d",
		items, elapsed.Round(time.Millisecond), float64(items)/elapsed.Seconds(),
		sent.Load(), deferred.Load(), ipis.Load(), onBehalf.Load(), executed, dups, lost.Load())
	t.Logf("torture: lateness of deferred items in kernel entries: 0:%d 1:%d 2:%d 3+:%d (only 0 is legal)",
		hist[0].Load(), hist[1].Load(), hist[2].Load(), hist[3].Load())
	t.Logf("torture: stats %v", d.Stats())
	ok := len(msgs) == 0 && dups == 0 && lost.Load() == 0 && late == 0 && executed == int64(items) && sent.Load() == int64(items)
	if ok {
		t.Log("torture: SUCCESS")
		return
	}
	t.Log("torture: FAILURE")
	t.Errorf("torture failed: %s; duplicated=%d lost=%d late=%d executed=%d of %d",
		strings.Join(msgs, "; "), dups, lost.Load(), late, executed, items)
}
