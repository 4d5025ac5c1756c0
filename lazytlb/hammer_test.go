package lazytlb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// The checker of the issue: each address space has a shared version number
// (the "page table"); each CPU's cached translation records the version it
// was filled at, and the flush callback refills it. A flusher bumps the
// version and then shoots down; once Shootdown has returned, the version is
// "completed", and any CPU that uses the address space must observe a
// cached version at least that new. Workers pinned to their CPUs switch
// between the address spaces, lazy mode and other work (Leave) while the
// flushers shoot down.

const hammerMMs = 2

type checker struct {
	version   [hammerMMs]atomic.Uint64 // bumped by flushers before a shootdown
	completed [hammerMMs]atomic.Uint64 // newest version whose shootdown returned
	caches    []cpuCache               // per slot index, owner only
	index     map[*lazytlb.MM]int      // read-only after setup
	cpuIndex  map[int]int              // read-only after setup
	uses      atomic.Uint64
	stale     atomic.Uint64
	mu        sync.Mutex
	first     string // first stale use
}

type cpuCache struct {
	ver [hammerMMs]uint64
	_   cpu.CacheLinePad
}

// flush is the TLB's callback: refill cpu's cached translation of mm.
func (k *checker) flush(cpuN int, mm *lazytlb.MM, _ uint64) {
	m := k.index[mm]
	k.caches[k.cpuIndex[cpuN]].ver[m] = k.version[m].Load()
}

// use is a use of mm on cpu: the no-stale-translation check.
func (k *checker) use(cpuN int, mm *lazytlb.MM, where string) {
	m := k.index[mm]
	c := k.completed[m].Load() // first: it only grows
	v := k.caches[k.cpuIndex[cpuN]].ver[m]
	k.uses.Add(1)
	if v < c {
		if k.stale.Add(1) == 1 {
			k.mu.Lock()
			k.first = fmt.Sprintf("CPU %d used %s %s at version %d, but the shootdown of version %d had returned", cpuN, mm.Name(), where, v, c)
			k.mu.Unlock()
		}
	}
}

// complete records that the shootdown of version v of mm m returned.
func (k *checker) complete(m int, v uint64) {
	for {
		old := k.completed[m].Load()
		if old >= v || k.completed[m].CompareAndSwap(old, v) {
			return
		}
	}
}

type hammerResult struct {
	stats        lazytlb.Stats
	uses, stale  uint64
	first        string
	shootdowns   int
	domainIPIs   uint64
	domainDefers uint64
}

// hammer runs workers on cpus and flushers for d under policy p.
func hammer(t *testing.T, cpus []int, p lazytlb.Policy, flushers int, dur time.Duration) hammerResult {
	t.Helper()
	d := newDomain(t, cpus)
	k := &checker{caches: make([]cpuCache, len(cpus)), index: map[*lazytlb.MM]int{}, cpuIndex: map[int]int{}}
	for i, c := range cpus {
		k.cpuIndex[c] = i
	}
	tlb, err := lazytlb.New(d, lazytlb.Options{Policy: p, Flush: k.flush})
	require.NoError(t, err, "lazytlb.New")
	var mms [hammerMMs]*lazytlb.MM
	for i := range mms {
		mms[i] = tlb.NewMM(fmt.Sprint("mm", i))
		k.index[mms[i]] = i
	}

	var stopWorkers, stopFlushers atomic.Bool
	var workers, flusherWG sync.WaitGroup
	errs := make(chan error, len(cpus)+flushers)
	for i, n := range cpus {
		workers.Add(1)
		go func() {
			defer workers.Done()
			errs <- runWorker(d, tlb, k, mms, n, uint64(i), &stopWorkers)
		}()
	}
	var shootdowns atomic.Int64
	for f := range flushers {
		flusherWG.Add(1)
		go func() {
			defer flusherWG.Done()
			rng := rand.New(rand.NewPCG(uint64(f), 7))
			for !stopFlushers.Load() {
				m := 0
				if rng.IntN(4) == 0 {
					m = 1
				}
				v := k.version[m].Add(1)
				if _, err := tlb.Shootdown(context.Background(), mms[m]); err != nil {
					errs <- err
					return
				}
				k.complete(m, v)
				shootdowns.Add(1)
			}
		}()
	}
	time.Sleep(dur)
	stopFlushers.Store(true)
	flusherWG.Wait() // flushers first: workers keep polling until every shootdown returned
	stopWorkers.Store(true)
	workers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "worker or flusher")
	}
	total := d.Stats()
	return hammerResult{stats: tlb.Stats(), uses: k.uses.Load(), stale: k.stale.Load(), first: k.first,
		shootdowns: int(shootdowns.Load()), domainIPIs: total.IPIs, domainDefers: total.Deferred}
}

// runWorker is one pinned CPU's loop.
func runWorker(d *ctdefer.Domain, tlb *lazytlb.TLB, k *checker, mms [hammerMMs]*lazytlb.MM, n int, seed uint64, stop *atomic.Bool) error {
	c, err := d.Claim(n)
	if err != nil {
		return err
	}
	defer c.Release()
	tc, err := tlb.Attach(c)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	for !stop.Load() {
		mm := mms[0]
		if rng.IntN(4) == 0 {
			mm = mms[1]
		}
		tc.SwitchTo(mm) // in the kernel: a context switch to a task of mm
		k.use(n, mm, "after SwitchTo")
		c.UserEnter() // the task's hot loop uses mm
		for range 1 + rng.IntN(32) {
			k.use(n, mm, "in user mode")
			c.Poll() // a forced flush IPI interrupts here
		}
		c.KernelEnter()
		switch rng.IntN(8) {
		case 0: // switch away for good: other work without mm
			tc.Leave()
			for range rng.IntN(16) {
				c.Poll()
			}
		default: // a kernel thread borrows mm: lazy
			tc.EnterLazy()
			for range rng.IntN(16) {
				c.Poll()
			}
			if rng.IntN(2) == 0 {
				tc.SwitchBack()
				k.use(n, mm, "after SwitchBack")
			}
		}
	}
	if tc.MM() != nil {
		tc.Leave()
	}
	return nil
}

// TestHammerChecker: under every policy, no CPU ever uses an address space
// at a version older than a completed shootdown's. Run it under -race too.
func TestHammerChecker(t *testing.T) {
	cpus := upToCPUs(t, 2)
	// Pinned workers spin on their CPUs holding a P each: leave Ps for the
	// flushers and the runtime.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(6, runtime.GOMAXPROCS(0))))
	dur := time.Second
	if testing.Short() || raceEnabled {
		dur = 200 * time.Millisecond
	}
	for _, p := range []lazytlb.Policy{lazytlb.PolicyLazy, lazytlb.PolicyEager, lazytlb.PolicyFlushOnSwitch} {
		t.Run(p.String(), func(t *testing.T) {
			// Each round checks safety. The policy's own path (a lazy CPU
			// marked, an IPI sent, a lazy CPU skipped) is reached only when
			// the workers get the CPU while a shootdown runs: on a busy
			// machine that may take more rounds, never a failure. Rounds
			// go on until the path was taken (or 30 s have passed, and the
			// test says so).
			deadline := time.Now().Add(30 * time.Second)
			for round := 1; ; round++ {
				r := hammer(t, cpus, p, 2, dur)
				t.Logf("round %d: %v on CPUs %v: %d shootdowns, %d uses, %d stale; %v", round, p, cpus, r.shootdowns, r.uses, r.stale, r.stats)
				if hammerCovered(t, p, r) || !time.Now().Before(deadline) {
					return
				}
			}
		})
	}
}

// hammerCovered checks one hammer round under policy p (failing the test
// on any violation) and reports whether the round took the policy's own
// path: a lazy CPU marked (lazy), an IPI sent (eager), a lazy CPU skipped
// (flush-on-switch).
func hammerCovered(t *testing.T, p lazytlb.Policy, r hammerResult) bool {
	t.Helper()
	require.Zero(t, r.stale, "no stale translation: %s", r.first)
	require.NotZero(t, r.shootdowns, "the flushers ran")
	require.NotZero(t, r.uses, "the workers used the address spaces")
	require.Equal(t, r.stats.Shootdowns, uint64(r.shootdowns), "every shootdown is counted")
	require.Equal(t, r.stats.IPIs, r.domainIPIs, "every lazytlb IPI went through the Domain")
	st := r.stats
	require.Equal(t, st.CPUs, st.IPIs+st.Marked+st.AlreadyMarked+st.SkippedLazy+st.Left+st.Deferred,
		"each CPU found in a set is counted once: %v", st)
	switch p {
	case lazytlb.PolicyLazy:
		require.Equal(t, st.Marked, st.MarksSeen, "every mark was consumed (FLUSH never overwritten): %v", st)
		if st.Marked == 0 {
			t.Logf("no lazy CPU was marked in this round (a busy machine): another round")
		}
		return st.Marked != 0
	case lazytlb.PolicyEager:
		// Eager IPIs every CPU of the set, except one that left before
		// the re-check of the send (Left): never a mark.
		require.Zero(t, st.Marked+st.AlreadyMarked+st.SkippedLazy, "eager never marks or skips a lazy CPU: %v", st)
		require.Equal(t, st.CPUs, st.IPIs+st.Left, "eager: an IPI for each CPU still in the set, Left for the others: %v", st)
		return st.IPIs != 0
	case lazytlb.PolicyFlushOnSwitch:
		require.Zero(t, st.Marked, "flush-on-switch never marks: %v", st)
		return st.SkippedLazy != 0
	}
	return true
}
