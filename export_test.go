package ctdefer

import "github.com/ctdefer/ctdefer/ctseq"

// What grace and lazytlb reach through internal/corelink, as methods for
// the root package's tests (the Go runtime's export_test.go pattern: these
// exist only in test builds).

// State returns cpu's state (Kernel for a CPU not in d).
func (d *Domain) State(cpu int) ctseq.State { return d.view.State(cpu) }

// Snapshot returns cpu's word; a CPU not in d gives an *ArgError.
func (d *Domain) Snapshot(cpu int) (ctseq.Snapshot, error) {
	if s, ok := d.view.Snapshot(cpu); ok {
		return s, nil
	}
	return ctseq.Snapshot{}, d.badCPU("Snapshot", cpu)
}

// Observe returns whether a worker holds cpu and, if one does, its word.
func (d *Domain) Observe(cpu int) (ctseq.Snapshot, bool) { return d.view.Observe(cpu) }

// QuiescentSince reports whether cpu passed a quiescent state since snap.
func (d *Domain) QuiescentSince(cpu int, snap ctseq.Snapshot) bool {
	return d.view.QuiescentSince(cpu, snap)
}

// Claimed reports whether a worker holds cpu.
func (d *Domain) Claimed(cpu int) bool { return d.view.Claimed(cpu) }

// Closed reports whether Close has been called.
func (d *Domain) Closed() bool { return d.closed.Load() }

// State returns the CPU's current context-tracking state.
func (c *CPU) State() ctseq.State { return c.state() }

// Quiesce declares a quiescent state in kernel mode, as grace's Checkpoint
// does when a grace period asks.
func (c *CPU) Quiesce() { c.quiesce("CPU.Quiesce") }

// DeferCallCAS is Defer's fast path as it was before ctseq's setWork made
// the CAS inline (SetWorkIfUser called the CAS loop out of line), for
// BenchmarkDomainDeferUser's before-and-after.
func (d *Domain) DeferCallCAS(cpu int, w Work) (Delivery, error) {
	if i := d.cpus.Of(cpu); w.d == d && i >= 0 && !d.closed.Load() {
		s := &d.slots[i]
		if s.policy.Load() == policyTracked && setWorkOutOfLine(&s.word, ctseq.Work(1)<<w.info.bit) {
			return Deferred, nil
		}
	}
	return d.deferSlow(cpu, w)
}

//go:noinline
func setWorkOutOfLine(w *ctseq.Word, work ctseq.Work) bool {
	_, ok := w.SetWorkIfUser(work)
	return ok
}
