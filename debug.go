package ctdefer

import (
	"fmt"
	"runtime"

	"github.com/ctdefer/ctdefer/ctseq"
)

// checkOwner panics if the calling thread is not the owner's (debug mode).
func (c *CPU) checkOwner(method string) {
	if tid := gettid(); tid != c.tid {
		c.d.misuse(&MisuseError{Method: method, CPU: c.cpu, Reason: reasonWrongThread,
			Detail: fmt.Sprintf("called on thread %d, CPU claimed by thread %d", tid, c.tid)})
	}
}

// checkPlacement panics if a pinned owner runs on another CPU (debug mode).
func (c *CPU) checkPlacement(method string) {
	if !c.debug || !c.pinned {
		return
	}
	if on, err := currentCPU(); err == nil && on != c.cpu {
		c.d.misuse(&MisuseError{Method: method, CPU: c.cpu, Reason: reasonWrongCPU,
			Detail: fmt.Sprintf("thread %d pinned to CPU %d runs on CPU %d", c.tid, c.cpu, on)})
	}
}

// AssertFlushed guards state that w's handler brings up to date: call it
// where such state is used on cpu. With Options.Debug, it panics with a
// *MisuseError whose Reason is "danger zone" if cpu is between a kernel entry that
// claimed w and the run of w's handler (the danger zone: the state is stale
// and its flush is still pending), naming the CPU, the work and the caller.
// Without Debug it does nothing and costs one branch.
func (w Work) AssertFlushed(cpu int) {
	if w.d == nil || !w.d.opts.Debug {
		return
	}
	s, err := w.d.slotOf("Work.AssertFlushed", cpu)
	if err != nil {
		panic(fmt.Sprintf("ctdefer: Work.AssertFlushed: %v", err))
	}
	// load: owner-written danger bits; the owner is the only thread for
	// which the answer is meaningful.
	if s.danger.Load()&uint32(ctseq.Of(int(w.info.bit))) == 0 {
		return
	}
	caller := "unknown"
	if _, file, line, ok := runtime.Caller(1); ok {
		caller = fmt.Sprintf("%s:%d", file, line)
	}
	w.d.misuse(&MisuseError{Method: "Work.AssertFlushed", CPU: cpu, Reason: reasonDangerZone,
		Detail: fmt.Sprintf("work %q (bit %d) was claimed at kernel entry but has not run yet; touched from %s",
			w.info.name, w.info.bit, caller)})
}

// misuse logs e (Options.Logger) and panics with it.
func (d *Domain) misuse(e *MisuseError) {
	d.logMisuse(e)
	panic(e)
}
