package ctseq

// The helpers of package ctseq's internal tests (helpers_test.go has
// package ctseq_test's).

const seqMax = uint64(1)<<seqBits - 1

// enc returns the encoding of s in the state field (word.md, Layout).
func enc(s State) uint64 {
	switch s {
	case Kernel:
		return encKernel
	case Idle:
		return encIdle
	case User:
		return encUser
	}
	panic("enc: not a state: " + s.String())
}

// pack builds a raw (stored) word from its fields, independently of the
// accessors under test: the actual value with the state's encoding, minus
// the bias.
func pack(seq uint64, work Work, s State) uint64 {
	return (seq<<(64-seqBits) | uint64(work)<<stateBits | enc(s)) - bias
}

// transitions cycles the owner through every kind of transition, starting and
// ending in Kernel.
var transitions = []struct {
	name string
	to   State
	do   func(*Word)
}{
	{"UserEnter", User, func(w *Word) { w.UserEnter() }},
	{"KernelEnter", Kernel, func(w *Word) { w.KernelEnter() }},
	{"IdleEnter", Idle, func(w *Word) { w.IdleEnter() }},
	{"IdleExit", Kernel, func(w *Word) { w.IdleExit() }},
}

// ownerOp is one owner transition, as the misuse tests see it: the method,
// the state it expects, and the state it produces. Quiesce is the Kernel to
// Kernel "transition": its delta is seqInc alone.
type ownerOp struct {
	name     string
	from, to State
	call     func(*Word)
}

var ownerOps = []ownerOp{
	{"UserEnter", Kernel, User, func(w *Word) { w.UserEnter() }},
	{"KernelEnter", User, Kernel, func(w *Word) { w.KernelEnter() }},
	{"IdleEnter", Kernel, Idle, func(w *Word) { w.IdleEnter() }},
	{"IdleExit", Idle, Kernel, func(w *Word) { w.IdleExit() }},
	{"Quiesce", Kernel, Kernel, func(w *Word) { w.Quiesce() }},
}

// opIndex maps a transition's name to its index in misuse.
func opIndex(name string) int {
	for i, e := range misuse {
		if e.(misuseError).method == name {
			return i
		}
	}
	panic("no misuse value for " + name)
}
