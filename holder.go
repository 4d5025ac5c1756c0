package ctdefer

import "weak"

// What sibling packages ask about a CPU's holder, on their slow paths: grace
// periods that wait for a CPU whose owner may have exited, and registrations
// (grace's QSBR readers) that must belong to the claim they were made for.

// holder returns the handle of cpu's current claim, weakly, or the zero
// weak.Pointer if nobody holds cpu (or cpu is not the Domain's). Two claims
// never return equal weak pointers, even after their handles are collected,
// so comparing with weak.Make(c) tells whether c is still cpu's claim: it is
// not once c has been released or taken back from an exited owner, whether or
// not another Claim holds cpu since. While a new Claim is under way it may
// still return the previous claim's handle. Any goroutine may call it: two
// loads.
func (d *Domain) holder(cpu int) weak.Pointer[CPU] {
	i := d.cpus.Of(cpu)
	// load (claimed): pairs with the CAS in Claim and the store in Release;
	// released handles report the zero pointer.
	if i < 0 || !d.slots[i].claimed.Load() {
		return weak.Pointer[CPU]{}
	}
	if h := d.slots[i].handle.Load(); h != nil { // load: stored by Claim under mu, before Claim returns
		return *h
	}
	return weak.Pointer[CPU]{}
}

// reapExited takes cpu back if its owner's thread has exited without
// Release, as a long DeferWait, Close and Claim do (exited owners are reclaimed, docs/design/owner.md): the work
// pending on cpu is handed back (its waiters get ErrOwnerGone), cpu is no
// longer claimed, and Options.Logger records it. It reports whether it took
// cpu back. With collect, an owner that only a garbage collection can show
// gone (on the process's main thread, or where threads have no IDs) gets
// one: pass it rarely. It costs a system call when cpu is claimed, so it is
// for the slow paths of waits that need cpu to move (grace periods,
// barriers), never for a hot path. An unknown or unclaimed cpu reports false.
func (d *Domain) reapExited(cpu int, collect bool) bool {
	i := d.cpus.Of(cpu)
	return i >= 0 && d.reapIfDead(&d.slots[i], collect)
}
