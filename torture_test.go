package ctdefer_test

import (
	"context"
	"errors"
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

// TestTortureValues is TestTorture for queues of values: the same owners
// (random user, kernel and idle stretches) while three senders send
// numbered values in batches of 1 to 4 to random CPUs, through a queue and
// a RemoteSafe queue, retrying when a queue is full, and one sender waits
// for every eighth value with SendWait. Each value must run exactly once
// (0 duplicated, 0 lost: Release runs what is left, so Close hands nothing
// back), and each sender's values must run on each CPU in the order sent.
// It ends with SUCCESS or FAILURE.
// Mutants caught: none.
func TestTortureValues(t *testing.T) {
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
	d, err := ctdefer.New(opts)
	require.NoError(t, err)

	const senders = 3
	runs := make([]atomic.Int32, items)
	var dups, disorder atomic.Int64
	// last[sender][cpu index]: the last value of that sender run on that
	// CPU, +1 (one consumer per CPU at a time, so a plain order check).
	var last [senders][2]atomic.Int64
	index := map[int]int{cpus[0]: 0, cpus[1]: 1}
	handle := func(cpu int, v int) {
		if runs[v].Add(1) > 1 {
			dups.Add(1)
		}
		l := &last[v%senders][index[cpu]]
		if int64(v) < l.Load()-1 {
			disorder.Add(1)
		}
		l.Store(int64(v) + 1)
	}
	plain, err := ctdefer.NewQueue(d, "plain", 16, handle)
	require.NoError(t, err)
	safe, err := ctdefer.NewQueue(d, "safe", 16, handle, ctdefer.RemoteSafe())
	require.NoError(t, err)

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
			rng := rand.New(rand.NewPCG(uint64(i), 43))
			for !stop.Load() {
				switch r := rng.IntN(100); {
				case r < 70:
					c.UserEnter()
					for range rng.IntN(200) {
						c.Poll()
					}
					c.KernelEnter()
				case r < 95:
					for range rng.IntN(50) {
						c.Poll()
					}
				default:
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(50))*time.Microsecond)
					_ = c.Idle(ctx)
					cancel()
				}
			}
		}()
	}

	var sent, full, waited atomic.Int64
	failures := make(chan string, 16)
	start := time.Now()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(s), 8))
			var batch []int
			// Sender s sends s, s+3, s+6, ...: v%senders names the sender.
			// Each CPU gets its values from one queue per sender, so that
			// the order check is per ring.
			for n := s; n < items; {
				cpu := cpus[rng.IntN(len(cpus))]
				q := plain
				if (s+index[cpu])%2 == 1 {
					q = safe
				}
				batch = batch[:0]
				for k := 0; k < 1+rng.IntN(4) && n < items; k++ {
					batch = append(batch, n)
					n += senders
				}
				if s == 0 && len(batch) == 1 && batch[0]%8 == 0 {
					err := q.SendWait(context.Background(), cpu, batch[0])
					for errors.Is(err, ctdefer.ErrFull) { // SendWait does not wait for room
						full.Add(1)
						runtime.Gosched()
						err = q.SendWait(context.Background(), cpu, batch[0])
					}
					if err != nil {
						failures <- fmt.Sprintf("SendWait(%d): %v", batch[0], err)
						return
					}
					if runs[batch[0]].Load() != 1 {
						failures <- fmt.Sprintf("SendWait(%d) returned before its value ran", batch[0])
					}
					waited.Add(1)
					sent.Add(1)
					continue
				}
				for {
					_, err := q.Send(cpu, batch...)
					if err == nil {
						break
					}
					if !errors.Is(err, ctdefer.ErrFull) {
						failures <- fmt.Sprintf("Send: %v", err)
						return
					}
					full.Add(1)
					runtime.Gosched() // retry: no value is lost at the bound
				}
				sent.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	owners.Wait()
	elapsed := time.Since(start)
	cerr := d.Close(context.Background())

	var executed, lost int64
	for v := range runs {
		switch n := runs[v].Load(); {
		case n == 0:
			lost++
		default:
			executed += int64(n)
		}
	}
	close(failures)
	var msgs []string
	for m := range failures {
		msgs = append(msgs, m)
	}
	if cerr != nil {
		msgs = append(msgs, fmt.Sprintf("Close: %v", cerr))
	}
	t.Logf("torture values: %d values in %v (%.0f/s): sent=%d full-retries=%d send-waits=%d executed=%d duplicated=%d lost=%d out-of-order=%d",
		items, elapsed.Round(time.Millisecond), float64(items)/elapsed.Seconds(),
		sent.Load(), full.Load(), waited.Load(), executed, dups.Load(), lost, disorder.Load())
	ok := len(msgs) == 0 && dups.Load() == 0 && lost == 0 && disorder.Load() == 0 && executed == int64(items) && sent.Load() == int64(items)
	if ok {
		t.Log("torture values: SUCCESS")
		return
	}
	t.Log("torture values: FAILURE")
	t.Errorf("torture values failed: %s; duplicated=%d lost=%d out-of-order=%d executed=%d of %d",
		strings.Join(msgs, "; "), dups.Load(), lost, disorder.Load(), executed, items)
}
