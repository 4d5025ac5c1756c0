package lazytlb

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// MM is an address space: any shared structure whose translations each CPU
// caches privately (a routing table, a userspace kernel's page map, a
// sharded index). It keeps the set of CPUs that have it loaded (OK, Lazy or
// Flush) and a generation bumped by every Shootdown; each CPU records the
// generation it has flushed to.
//
// Create it with TLB.NewMM; the zero MM is not usable and an MM must not be
// copied. The flush callback gets the *MM to flush: compare it, or use it
// as a map key, to find the structure it stands for.
type MM struct {
	_ percpu.NoCopy
	_ atomicx.Align64
	// A whole line of padding on each side of gen: an MM is not allocated
	// on a line boundary, so this is what keeps gen alone on its line
	// (every shootdown writes it) whatever the MM's address.
	_ cpu.CacheLinePad
	// gen is the generation of the newest translations: Shootdown's Add
	// (Shootdown's add), read by joins, marked switch backs and IPI
	// handlers. At offset percpu.CacheLine, a multiple of 8: 64-bit aligned on
	// 32-bit platforms too, since atomicx.Align64 aligns the MM.
	gen atomicx.Uint64
	_   [percpu.CacheLine - unsafe.Sizeof(atomicx.Uint64{})]byte

	// cpus is the set of CPUs that have the MM loaded: bit i of word i/64
	// is slot i. Set by joins, cleared by leaves (CAS loops), read by
	// shootdowns.
	cpus []atomicx.Uint64
	// flushed[i] is the generation slot i's CPU has flushed its cached
	// translations to. Written only by that CPU's owner and read by it for
	// decisions; other goroutines read it only to observe (the tests).
	flushed []flushedGen
	t       *TLB
	name    string // in panics and errors
}

type flushedGen struct {
	gen atomicx.Uint64
	_   [percpu.CacheLine - 8]byte
}

// NewMM creates an address space at generation 0 that no CPU has loaded.
// The name identifies it in errors and panics.
func (t *TLB) NewMM(name string) *MM {
	return &MM{
		cpus:    make([]atomicx.Uint64, (len(t.slots)+63)/64),
		flushed: make([]flushedGen, len(t.slots)),
		t:       t,
		name:    name,
	}
}

// flushedTo returns the generation cpu has flushed mm to (observation only:
// the tests and the explorer). A cpu not in the TLB panics.
func (mm *MM) flushedTo(cpu int) uint64 {
	return mm.flushed[mm.t.slotOf(cpu).idx].gen.Load() // load: observation only
}

// join sets slot i's bit (before the gen load: no stale translation).
func (mm *MM) join(i int) {
	w, bit := &mm.cpus[i/64], uint64(1)<<(i%64)
	old := w.Load() // load: first guess for the CAS
	// CAS: publish the CPU in the set before it reads gen (the Dekker
	// pattern): pairs with the Shootdown's load of the set after its Add.
	for !w.CompareAndSwap(old, old|bit) {
		old = w.Load() // load: another CPU joined or left; retry
	}
}

// has reports whether slot i's bit is set: the send's re-check (Leave
// leaves no send behind).
func (mm *MM) has(i int) bool {
	// load: after the Add of the CPU's inflight: pairs with leave's CAS,
	// which the owner follows with a load of inflight (Dekker: Leave leaves no send behind).
	return mm.cpus[i/64].Load()&(uint64(1)<<(i%64)) != 0
}

// leave clears slot i's bit (Leave leaves no send behind).
func (mm *MM) leave(i int) {
	w, bit := &mm.cpus[i/64], uint64(1)<<(i%64)
	old := w.Load() // load: first guess for the CAS
	// CAS: leave the set; pairs with the Shootdown's load of the set and
	// its re-check before a send (Leave leaves no send behind). A shootdown that read the bit
	// before finds the state Off and skips, or re-checks after announcing
	// its send and skips, or is waited for by the owner (CPU.leave).
	for !w.CompareAndSwap(old, old&^bit) {
		old = w.Load() // load: another CPU joined or left; retry
	}
}
