package mutant

import "github.com/ctdefer/ctdefer/ctseq"

// ForgetSeq is ctseq.Word with a UserEnter that changes the state but does
// not advance the sequence: it adds User-Kernel instead of
// seqInc+User-Kernel.
//
// What goes wrong: a snapshot taken in the kernel compares equal after the
// owner returned to user, so QuiescentSince keeps answering "not yet" for a
// CPU that has been quiescent (a grace period that never ends while the CPU
// stays in user), and the sequence no longer counts transitions (breaks: the sequence always advances).
//
// The zero value is in Kernel with sequence 0 and no work.
type ForgetSeq struct {
	seqWord
}

// UserEnter moves the owner from Kernel to User without advancing the
// sequence: the bug. Owner only.
func (w *ForgetSeq) UserEnter() {
	w.v.Add(uint64(ctseq.User) - uint64(ctseq.Kernel)) // RMW: publish User, but no seqInc: the bug
}
