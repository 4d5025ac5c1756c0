//go:build !race && !ctdefer_debug && !ctdefer_explore

package grace

import "github.com/ctdefer/ctdefer"

// The memb flavour's read side, in a plain build: Lock and Unlock inline,
// with no call on any path (a call would cost the inliner's budget), and
// panic with prebuilt *ctdefer.MisuseError values on misuse. The checked
// builds' versions (memb_read_checked.go) name the Handle's registration
// site and, with Options.Debug, record the goroutine inside a section.

// Lock enters a read-side section (rcu_read_lock): published pointers
// loaded from here until the matching Unlock stay valid until then.
// Sections nest. With membarrier, the outermost Lock is two loads and one
// plain store, and it inlines; without (Stats.Membarrier false) the store
// is atomic, a full fence. Lock on an unregistered Handle, or nested more
// than 2^21-1 deep, panics with a *ctdefer.MisuseError.
func (h *Handle) Lock() {
	// Enter: at the outermost Lock, load the driver's word (pairs with its
	// start store: a section that began before a grace period holds it)
	// and store it, plain, owner only; its order before this goroutine's
	// reads is membarrier's to give (membarrier stands in for the reader's
	// fence). Fenced: a sequentially consistent store.
	if r := h.r; !r.ctr.Enter(r.word, nestMask, flagFence, flagDead) {
		panic(errLockMisuse)
	}
}

// Unlock leaves a read-side section (rcu_read_unlock): the goroutine must
// not use what it loaded in the section after the outermost Unlock. With
// membarrier, the outermost Unlock is a load and one plain store, and it
// inlines; without, the store is atomic. Unlock without a matching Lock,
// or on an unregistered Handle, panics with a *ctdefer.MisuseError.
func (h *Handle) Unlock() {
	// Exit: at the outermost Unlock, store 0, plain, owner only: the
	// section is over; membarrier orders the section's reads before it for
	// the driver (membarrier stands in for the reader's fence). Fenced: a
	// sequentially consistent store, which keeps the flags.
	if !h.r.ctr.Exit(lowMask, nestMask, flagDead, flagMask) {
		panic(errUnlockMisuse)
	}
}

// The misuses Lock and Unlock panic with: prebuilt, so that the fast
// paths carry no formatting and inline. (The checked builds tell the
// cases apart and name the Handle's registration site.)
var (
	errLockMisuse = &ctdefer.MisuseError{Method: "grace.Handle.Lock", CPU: -1, Reason: "unregistered or nested too deep",
		Detail: "Lock on a Handle after Unregister, or more than 2^21-1 nested sections (a Lock without Unlock in a loop?)"}
	errUnlockMisuse = &ctdefer.MisuseError{Method: "grace.Handle.Unlock", CPU: -1, Reason: "not locked or unregistered",
		Detail: "Unlock without a matching Lock, or on a Handle after Unregister"}
)
