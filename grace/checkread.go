//go:build race || ctdefer_debug || ctdefer_explore

package grace

import (
	"fmt"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// The Debug read-side checks of Pointer.Load, in the builds that compile
// them (load_checked.go).

// checkRead is the Debug read-side check of Pointer.Load.
func (g *Domain) checkRead(op string) {
	switch {
	case g.s != nil:
		g.s.checkRead(op)
	case g.q != nil:
		g.q.checkRead(op)
	}
	// The memb flavour does not check Load: a goroutine's sections are
	// known only to its Handle, which Load does not see.
}

// checkRead is the Debug read-side check of Pointer.Load for the
// kernel-stretch flavour: readers are protected only inside kernel-mode
// stretches.
func (g *stretch) checkRead(op string) {
	if !g.debug {
		return
	}
	cpu, ok := g.v.CallerCPU()
	if !ok {
		return // not an owner of this domain's CPUs: an updater
	}
	if st := g.v.State(cpu); st != ctseq.Kernel {
		misuse(op, cpu, "outside a kernel stretch", fmt.Sprintf("reads data of the kernel-stretch flavour in %v mode: "+
			"it protects readers only inside kernel-mode stretches (KernelEnter to UserEnter); "+
			"data read in a user-mode hot loop needs the QSBR flavour (grace.NewQSBR)", st))
	}
}

// checkRead is the Debug read-side check of Pointer.Load.
func (q *qsbr) checkRead(op string) {
	if !q.debug {
		return
	}
	cpu, ok := q.v.CallerCPU()
	if !ok {
		return // not an owner: an updater, or a goroutine outside the domain
	}
	r := &q.readers[q.cpus.Of(cpu)]
	switch {
	case r.tid != sysx.Gettid():
		misuse(op, cpu, "no reader", "reads QSBR-protected data, but its owner never registered "+
			"a reader: call Domain.Reader after Claim")
	case r.off:
		misuse(op, cpu, "offline", "reads QSBR-protected data while its reader is offline "+
			"(or never registered): call Domain.Reader after Claim, and Online after Offline")
	case q.v.State(cpu) == ctseq.Idle:
		misuse(op, cpu, "idle", "reads QSBR-protected data while parked (idle): "+
			"an idle CPU is offline for its QSBR domain")
	}
}
