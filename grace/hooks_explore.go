//go:build ctdefer_explore

package grace

import "fmt"

// mutation is the engine variant in use; see Mutate.
var mutation = mutNone

// Mutate switches the engine to a deliberately broken variant, for the
// explorer's mutant runs, and returns the function that switches it back.
// Names: "no-wait" (Poll reports every grace period complete at once),
// "kernel-quiescent" (a snapshot in the kernel counts as quiescent),
// "poll-quiescent" (a nudge handled at a poll point counts as quiescent),
// "ignore-release" (the scan ignores the claimed flag, so a CPU released
// inside its stretch holds the grace period forever), "barrier-skip-kernel"
// (the expedited barrier skips CPUs in the kernel as well).
// Only in ctdefer_explore builds; not safe for concurrent use.
func Mutate(name string) (undo func()) {
	m, ok := map[string]mutationKind{
		"none":                mutNone,
		"no-wait":             mutNoWait,
		"kernel-quiescent":    mutKernelQuiescent,
		"poll-quiescent":      mutPollQuiescent,
		"ignore-release":      mutIgnoreRelease,
		"barrier-skip-kernel": mutBarrierSkipKernel,
	}[name]
	if !ok {
		panic(fmt.Sprintf("grace: Mutate(%q): no such mutant", name))
	}
	old := mutation
	mutation = m
	return func() { mutation = old }
}

// awaitHook, if set, replaces await's spin-then-sleep loop (see SetAwait).
var awaitHook func(cond func() bool)

// SetAwait makes every wait of the package that blocks on a condition
// (ExpeditedBarrier's step 3) call wait(cond) instead of spinning and
// sleeping: the explorer passes explore.Wait, which disables the thread
// until cond holds. It returns the function that restores the real loop.
// Only in ctdefer_explore builds; not safe for concurrent use.
func SetAwait(wait func(cond func() bool)) (undo func()) {
	old := awaitHook
	awaitHook = wait
	return func() { awaitHook = old }
}

// exploreAwait waits for done with the explorer's hook, if one is set, and
// reports whether it did.
func exploreAwait(done func() bool) bool {
	if awaitHook == nil {
		return false
	}
	awaitHook(done)
	return true
}

// EngineState returns every word the engine's Poll reads besides the CPUs'
// context-tracking words (seq, need, drive, each CPU's handler-written
// fields, and each CPU's claimed flag, which Claim and Release change
// without touching the word), for the explorer's wait conditions: a thread
// whose Poll failed waits until this or a CPU's word changes, where a real
// waiter would sleep and poll again. It returns a digest of them (FNV-1a).
// Only in ctdefer_explore builds.
func (g *Domain) EngineState() uint64 {
	h := uint64(14695981039346656037) // FNV-1a over the words
	mix := func(v uint64) {
		h = (h ^ v) * 1099511628211
	}
	mix(g.seq.Load())
	mix(g.need.Load())
	mix(g.drive.Load())
	for i := range g.per {
		st := &g.per[i]
		mix(st.seenGP.Load())
		mix(st.back.Load())
		mix(uint64(st.asked.Load()))
		claimed := uint64(0)
		if g.claimed(g.cpus[i]) {
			claimed = 1
		}
		mix(claimed)
	}
	return h
}
