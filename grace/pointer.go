package grace

import (
	"fmt"
	"unsafe"

	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
)

// Pointer is a pointer published to the readers of a grace-period flavour:
// rcu_dereference (Load) and rcu_assign_pointer (Store), plus the updater's
// swap-and-retire. Readers load it inside their Domain's read-side
// sections: a kernel-mode stretch in the kernel-stretch flavour (New),
// anywhere between two reports of an online reader in the QSBR flavour
// (NewQSBR). Updaters store or swap it, then
// reclaim the old object only after a grace period (Retire, Synchronize).
//
// With the Domain's Options.Debug, Load checks that the calling owner is
// inside a read-side section and panics otherwise, naming the rule; loads
// by goroutines that own no CPU of the domain (updaters) are not checked.
// That check is compiled only into race-detector builds (go test -race,
// as tests run) and builds with the tag ctdefer_debug: in a plain build
// Load is the bare atomic load, as fast as atomic.Pointer.Load.
//
// Create it with NewPointer. It must not be copied after first use.
type Pointer[T any] struct {
	_ percpu.NoCopy
	// v is the published pointer (a *T, untyped so that the methods reach
	// it without the shape dictionary's cost, and inline), or nil in every
	// case with Debug in a checked build: then dbg holds it, and Load,
	// which finds v nil, takes its checked path (load_checked.go). A plain
	// build never sets dbg, and its Load is the bare load (load_bare.go).
	v   atomicx.UnsafePointer
	dbg *pointerDebug // nil: no Debug check, and always in a plain build
	g   *Domain       // Retire's Domain
}

// pointerDebug is a Pointer's state with its Domain's Options.Debug.
type pointerDebug struct {
	v atomicx.UnsafePointer // the published pointer
	g *Domain               // the Domain whose read-side rule Load checks
}

// NewPointer returns a Pointer for the readers of g, holding v. A nil g
// gives a Pointer with no Domain: Load is never checked and SwapAndRetire
// panics.
func NewPointer[T any](g *Domain, v *T) *Pointer[T] {
	p := &Pointer[T]{g: g}
	if checkLoads && g != nil && g.debug() { // a plain build's Load never looks at dbg
		p.dbg = &pointerDebug{g: g}
	}
	p.word().Store(unsafe.Pointer(v)) // store: before the Pointer is shared
	return p
}

// word is the field that holds the published pointer: with Debug, the one
// that Load reads after its check.
func (p *Pointer[T]) word() *atomicx.UnsafePointer {
	if p.dbg != nil {
		return &p.dbg.v
	}
	return &p.v
}

// Store publishes v (rcu_assign_pointer): readers that load after it see v
// and everything written to *v before the Store.
func (p *Pointer[T]) Store(v *T) {
	p.word().Store(unsafe.Pointer(v)) // store: pairs with Load
}

// Swap publishes v and returns the pointer it replaces, which readers may
// still hold until a grace period has passed.
func (p *Pointer[T]) Swap(v *T) (old *T) {
	return (*T)(p.word().Swap(unsafe.Pointer(v))) // RMW: pairs with Load
}

// CompareAndSwap publishes new if the pointer is still old, and reports
// whether it did (rcu_cmpxchg_pointer): several updaters can publish
// without a lock of their own. On success old is unpublished, and readers
// may still hold it until a grace period has passed.
func (p *Pointer[T]) CompareAndSwap(old, new *T) bool {
	return p.word().CompareAndSwap(unsafe.Pointer(old), unsafe.Pointer(new)) // RMW: pairs with Load
}

// SwapAndRetire publishes v and retires the old pointer: free(old) runs on
// the Domain's reclaimer after a grace period, when no reader can hold it
// any more (free is not called for a nil old pointer). It returns nil, nil
// when it did. If Retire fails (the Domain is closed: ctdefer.ErrClosed), v is
// published all the same and SwapAndRetire returns the old pointer with the
// error: unpublished, not retired, still the caller's (it may Synchronize
// and free it itself). A nil free is refused with an *ctdefer.ArgError before
// anything is published.
func (p *Pointer[T]) SwapAndRetire(v *T, free func(old *T)) (*T, error) {
	if free == nil {
		return nil, nilArg("grace.Pointer.SwapAndRetire", "free")
	}
	if p.g == nil {
		misuse("Pointer.SwapAndRetire", -1, "no Domain", "the Pointer has no Domain: make it with NewPointer and a Domain")
	}
	old := p.Swap(v)
	if old == nil {
		return nil, nil
	}
	if err := p.g.Retire(func() { free(old) }); err != nil {
		return old, fmt.Errorf("grace: Pointer.SwapAndRetire: %w", err)
	}
	return nil, nil
}
