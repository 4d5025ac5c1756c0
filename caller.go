package ctdefer

// callerCPU reports the CPU of d that the calling goroutine's thread owns (a
// Claim made on this thread and not yet released), and false if it owns none
// in d. It costs a gettid system call and a lookup under a mutex: it is for
// debugging checks (grace's Options.Debug read-side checks use it), never for
// a hot path. On platforms without thread IDs it always reports false.
func (d *Domain) callerCPU() (cpu int, ok bool) {
	r, ok := lookupOwner(gettid())
	if !ok || r.d != d {
		return 0, false
	}
	return r.s.cpu, true
}
