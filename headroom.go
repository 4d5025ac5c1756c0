package ctdefer

import (
	"runtime"
	"sync"
)

// GOMAXPROCS headroom.
//
// A claimed CPU's worker is a goroutine locked to its thread; while it runs
// (spinning in its hot loop, polling in the kernel) it holds one of the
// runtime's GOMAXPROCS Ps. With as many workers as Ps, every other goroutine
// of the process, the controller that sends the work included, runs only
// when a worker blocks (Idle, a channel) or the scheduler preempts it: a
// controller measured 66 iterations in 2 s against 1,764 with two Ps to
// spare. The rule: keep the CPUs claimed in the process, across Domains,
// below runtime.GOMAXPROCS(0).
//
// Claim checks it: it counts the claims of the whole process (released by
// Release, or when an exited owner's CPU is taken back), and a claim that
// brings the count to GOMAXPROCS or beyond is reported (Stats.NoHeadroom,
// a Logger warning) or, with Options.RequireHeadroom, refused with
// ErrNoHeadroom. The check reads GOMAXPROCS at each Claim: raise it before
// claiming, or lower the number of workers. Claims are counted whether
// their workers spin or not: a worker that spends its life parked in Idle
// holds no P, but Claim cannot know that.

// workers counts the CPUs claimed in the process, across Domains. A plain
// mutex, held for a few instructions and never across an atomicx
// operation, so the interleaving explorer never stops a thread inside it.
var workers struct {
	mu sync.Mutex
	n  int
}

// reserveWorker counts one more claim and returns the count with it and
// GOMAXPROCS. If require is set and the claim would leave no headroom, it
// counts nothing and reports ok false.
func reserveWorker(require bool) (n, procs int, ok bool) {
	procs = runtime.GOMAXPROCS(0)
	workers.mu.Lock()
	defer workers.mu.Unlock()
	n = workers.n + 1
	if require && n >= procs {
		return n, procs, false
	}
	workers.n = n
	return n, procs, true
}

// releaseWorker uncounts a claim: Release, an exited owner's CPU taken
// back, a Claim that failed after reserveWorker.
func releaseWorker() {
	workers.mu.Lock()
	workers.n--
	workers.mu.Unlock()
}
