//go:build ctdefer_explore

package grace

import "fmt"

// mutation is the engine variant in use; see Mutate.
var mutation = mutNone

// Mutate switches the engine to a deliberately broken variant, for the
// explorer's mutant runs, and returns the function that switches it back.
// Names: "no-wait" (Poll reports every grace period complete at once),
// "kernel-quiescent" (a snapshot in the kernel counts as quiescent),
// "poll-quiescent" (a nudge handled at a poll point counts as quiescent).
// Only in ctdefer_explore builds; not safe for concurrent use.
func Mutate(name string) (undo func()) {
	m, ok := map[string]mutationKind{
		"none":             mutNone,
		"no-wait":          mutNoWait,
		"kernel-quiescent": mutKernelQuiescent,
		"poll-quiescent":   mutPollQuiescent,
	}[name]
	if !ok {
		panic(fmt.Sprintf("grace: Mutate(%q): no such mutant", name))
	}
	old := mutation
	mutation = m
	return func() { mutation = old }
}

// EngineState returns every word the engine's Poll reads besides the CPUs'
// context-tracking words (seq, need, drive, and each CPU's handler-written
// fields), for the explorer's wait conditions: a thread whose Poll failed
// waits until this or a CPU's word changes, where a real waiter would sleep
// and poll again. It returns a digest of them (FNV-1a). Only in
// ctdefer_explore builds.
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
	}
	return h
}
