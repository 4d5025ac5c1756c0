package grace

// mutationKind selects a deliberately broken variant of the engine, for the
// interleaving explorer's mutant runs (internal/explore/grace_test.go). In
// normal builds mutation is the constant mutNone (mutation_off.go) and every
// check of it compiles away.
type mutationKind uint8

const (
	mutNone              mutationKind = iota
	mutNoWait                         // Poll reports every grace period complete at once
	mutKernelQuiescent                // a snapshot in the kernel counts as quiescent
	mutPollQuiescent                  // a handled nudge (a poll point) counts as quiescent
	mutIgnoreRelease                  // the scan ignores the claimed flag: a released CPU holds the grace period forever
	mutBarrierSkipKernel              // the expedited barrier skips CPUs in the kernel too
)
