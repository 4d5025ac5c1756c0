package ctseq

// Snapshot is a copy of a Word's value at one instant, for grace-period
// detection (RCU's "watching" snapshot). The zero Snapshot reads as a word
// in Kernel with sequence 0 and no work, as the zero Word does.
//
// It holds the word as stored (raw, with the bias: word.md, Layout), so that
// the zero Snapshot is the zero Word's; the accessors decode the actual
// value, which matters for Idle words, whose raw upper fields are off by
// the bias's borrow.
type Snapshot struct{ v uint64 }

// Seq returns the sequence counter, in [0, SeqMask].
func (s Snapshot) Seq() uint64 { return seqOf(actual(s.v)) }

// State returns the owner's state at the snapshot: Kernel, Idle or User, or
// State(3), which prints as "transient", for a word caught between a misused
// transition's add and its undo (see Word): it refuses deferral and is not
// quiescent.
func (s Snapshot) State() State { return stateOf(s.v) }

// Work returns the bits pending at the snapshot: accepted by SetWorkIfUser
// and not yet returned by an owner transition. Only a User word has pending
// bits; for a word in any other state Work returns 0. (A Kernel word still
// carries the bits that the entry into it returned, until the owner leaves
// the kernel: those are claimed, not pending; see [Word.KernelEnter].)
func (s Snapshot) Work() Work {
	if s.v&stateMask != rawUser {
		return 0
	}
	return workOf(s.v) // a raw User word's work field is the actual one (the bias: word.md, Layout)
}

// Quiescent reports whether the owner was outside the kernel (User or Idle)
// at the snapshot: a quiescent state in itself. A transient snapshot is not
// quiescent.
func (s Snapshot) Quiescent() bool { return quiescent(s.v) }

// Snapshot returns the word's current value. Any goroutine may call it.
func (w *Word) Snapshot() Snapshot {
	// load: pairs with every owner transition; a transition that happened
	// before this load is reflected in the sequence.
	return Snapshot{w.v.Load()}
}

// QuiescentSince reports whether the owner has passed through a quiescent
// state since s was taken from this word: it was in User or Idle at s, it is
// in User or Idle now, or it has made at least one transition since (RCU's
// "stopped since"). Once true for a given s, it stays true, except across a
// sequence wrap (below).
//
// It never reports true while the owner is still inside the same kernel
// stretch that s observed: the sequence changes only at transitions, and
// nested Enter/Exit pairs make none.
//
// Wrap: the sequence is 45 bits wide (SeqMask), so after a multiple of
// SeqMask+1 transitions it reads equal again. The only consequence is a false "not yet"
// for an owner that is in the kernel again at the instant of the call (an
// owner found in User or Idle is quiescent whatever its sequence), never a
// false "yes"; the next call after the owner leaves that kernel stretch
// answers true. Any 1 to SeqMask transitions (in particular an exit/enter
// pair) are always detected.
//
// Misuse: a snapshot or a load that catches a misused transition between its
// add and its undo (a transient word, see Word) sees the sequence one ahead,
// so it may count as a transition although the owner never left the kernel.
// Misuse is a bug that panics the owner; grace periods are not guaranteed
// across it.
//
// Any goroutine may call it.
func (w *Word) QuiescentSince(s Snapshot) bool {
	if s.Quiescent() {
		return true
	}
	// load: pairs with the owner's transition adds: a transition that
	// completed before this load is seen, and with it everything the owner
	// did before it. Compare sequences only: the owner's work-bit clearing
	// in Kernel changes the word but is not a transition.
	// Past the state test cur is a raw Kernel word, whose sequence field
	// is the actual one (the bias: word.md, Layout).
	cur := w.v.Load()
	return cur&stateMask != rawKernel || seqOf(cur) != s.Seq()
}

// SeqMask masks a sequence value to the sequence's width: 45 bits, 2 under
// the ctdefer_narrowseq build tag.
const SeqMask = uint64(1)<<seqBits - 1

// SeqReached reports whether sequence cur is at or past target, treating the
// counter as a ring (RCU's ULONG_CMP_GE): cur is "past" target when it is less
// than half the ring ahead. Meaningful only while the two are less than
// (SeqMask+1)/2 transitions apart (2^44 in normal builds: about 4.9 hours at
// one transition per nanosecond).
func SeqReached(cur, target uint64) bool {
	return (cur-target)&SeqMask < 1<<(seqBits-1)
}
