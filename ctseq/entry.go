package ctseq

// Entry records what one level of Enter did, so that only the level that
// changed the state changes it back: the userspace form of the kernel's
// irqentry_state_t, which lives on each nested interrupt's own stack frame
// (the nesting scheme Mark Rutland describes in the LKML thread
// "PREEMPT_AUTO: support lazy rescheduling", February 2024). The zero Entry
// is a nested level that made no transition.
type Entry struct {
	work  Work
	prev  State // the state this level left; meaningful only if outer
	outer bool  // this level made the transition and Exit must undo it
}

// Work returns the work claimed by this level's transition, to be run with
// [Table.Drain]. It is empty for a nested level.
func (e Entry) Work() Work { return e.work }

// Outer reports whether this level made the transition into the kernel.
func (e Entry) Outer() bool { return e.outer }

// Enter brings the owner into the kernel from wherever it is, the way an
// interrupt does: from User it is KernelEnter, from Idle it is IdleExit, and
// from Kernel (an interrupt nested inside kernel code) it does nothing but
// one load. Pass the returned [Entry] to the matching [Word.Exit].
//
// Owner only.
func (w *Word) Enter() Entry {
	// load: the owner alone changes the state, so the state read here
	// cannot change before the transition below; senders may still add
	// work bits to a User word, and KernelEnter's add claims those too.
	switch w.v.Load() & stateMask {
	case rawUser:
		return Entry{work: w.KernelEnter(), prev: User, outer: true}
	case rawIdle:
		return Entry{work: w.IdleExit(), prev: Idle, outer: true}
	default:
		return Entry{}
	}
}

// Exit undoes the matching Enter: the outermost level returns the owner to
// the state it interrupted (User or Idle); nested levels do nothing.
//
// Owner only. Entries must be passed to Exit in the reverse order of the
// Enters that returned them.
func (w *Word) Exit(e Entry) {
	if !e.outer {
		return
	}
	if e.prev == Idle {
		w.IdleEnter()
		return
	}
	w.UserEnter()
}
