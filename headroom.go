package ctdefer

import (
	"sync"

	"github.com/ctdefer/ctdefer/host"
)

// GOMAXPROCS headroom.
//
// A claimed CPU's worker is a goroutine locked to its thread; while it runs
// it holds one of the runtime's GOMAXPROCS Ps. The rule (host.CheckHeadroom,
// which has the arithmetic and the reasons): keep the CPUs claimed in the
// process, across Domains, below runtime.GOMAXPROCS(0).
//
// Claim checks it: it counts the claims of the whole process (released by
// Release, or when an exited owner's CPU is taken back), and a claim that
// brings the count to GOMAXPROCS or beyond is reported (Stats.NoHeadroom,
// a Logger warning) or, with Options.RequireHeadroom, refused with
// host.ErrNoHeadroom. The check reads GOMAXPROCS at each Claim: raise it
// before claiming, or lower the number of workers. Claims are counted
// whether their workers spin or not: a worker that spends its life parked
// in Idle holds no P, but Claim cannot know that.

// workers counts the CPUs claimed in the process, across Domains. A plain
// mutex, held for a few instructions and never across an atomicx
// operation, so the interleaving explorer never stops a thread inside it.
var workers struct {
	mu sync.Mutex
	n  int
}

// reserveWorker counts one more claim and returns the count with it, and
// short: nil if the claim leaves GOMAXPROCS headroom, else host's error
// saying why (it wraps host.ErrNoHeadroom). If require is set and the claim
// would leave no headroom, it counts nothing and reports ok false.
func reserveWorker(require bool) (n int, ok bool, short error) {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	n = workers.n + 1
	short = host.CheckHeadroom(n)
	if require && short != nil {
		return n, false, short
	}
	workers.n = n
	return n, true, short
}

// releaseWorker uncounts a claim: Release, an exited owner's CPU taken
// back, a Claim that failed after reserveWorker.
func releaseWorker() {
	workers.mu.Lock()
	workers.n--
	workers.mu.Unlock()
}

// claimedWorkers returns the number of CPUs claimed in the process.
func claimedWorkers() int {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	return workers.n
}
