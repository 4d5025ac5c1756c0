//go:build linux

package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Isolate moves every thread of the process off the given CPUs, the
// userspace counterpart of booting with isolcpus: afterwards only workers
// that pin themselves there (ctdefer's Domain.Claim, [PinThread]) run
// there. Go creates new threads from threads that are not pinned (its
// template thread, or the thread that needs one), so threads created later
// inherit the restricted mask too.
//
// The CPUs must be in the process's allowed set ([AllowedCPUs]: the
// affinity the process started with, the one ctdefer.New uses), and leave at
// least one CPU of it to the rest of the process. Isolated CPUs stay in that
// set: New and Claim accept them, which is the point. Isolate never adds a
// CPU to it.
//
// Call it before claiming the isolated CPUs. A thread whose mask lies
// entirely inside cpus (a worker already pinned there) is left alone. The
// returned [Isolation] restores the previous masks. Calls of Isolate and
// [Isolation.Restore] are serialised.
//
// Errors, checked before any thread is moved: a negative number or one
// above 65535 (the largest a ctdefer.Domain accepts) is an error naming it; [ErrNotAllowed] for a
// CPU outside the allowed set, or if no allowed CPU would remain for the
// other threads. Then an error wrapping the errno if a thread's mask cannot
// be read or changed; the threads moved so far are restored.
func Isolate(cpus ...int) (*Isolation, error) {
	allowed, err := allowedSet()
	if err != nil {
		return nil, fmt.Errorf("host: Isolate(%v): %w", cpus, err)
	}
	for _, c := range cpus {
		if err := checkCPU(fmt.Sprintf("Isolate(%v)", cpus), c); err != nil {
			return nil, err
		}
		if !allowed.Has(c) {
			return nil, fmt.Errorf("host: Isolate(%v): CPU %d (allowed: %s): %w", cpus, c, FormatCPUList(allowed.List()), ErrNotAllowed)
		}
	}
	drop := sysx.CPUSetOf(cpus...)
	if drop.Count() == allowed.Count() { // drop is a subset of allowed: equal
		return nil, fmt.Errorf("host: Isolate(%v): the process may only run on %s: no CPU would remain for its other threads: %w",
			cpus, FormatCPUList(allowed.List()), ErrNotAllowed)
	}
	iso := &Isolation{}
	isolateMu.Lock()
	defer isolateMu.Unlock()
	// Two passes: a thread created during the first may have copied an
	// old mask.
	for range 2 {
		tids, err := threadIDs()
		if err != nil {
			_ = iso.restore()
			return nil, fmt.Errorf("host: Isolate(%v): %w", cpus, err)
		}
		for _, tid := range tids {
			old, err := sysx.TaskAffinity(tid)
			if errors.Is(err, syscall.ESRCH) {
				continue // exited meanwhile
			}
			if err != nil {
				_ = iso.restore()
				return nil, fmt.Errorf("host: Isolate(%v): thread %d: %w", cpus, tid, err)
			}
			// A new set, not a modified copy of old: a CPUSet copy
			// shares its bits, and old is what Restore puts back.
			var keep sysx.CPUSet
			for _, c := range old.List() {
				if !drop.Has(c) {
					keep.Set(c)
				}
			}
			if keep.Count() == old.Count() {
				continue // not on any of the CPUs
			}
			if keep.Count() == 0 {
				continue // a worker pinned inside the isolated set
			}
			if err := sysx.SetTaskAffinity(tid, keep); err != nil {
				if errors.Is(err, syscall.ESRCH) {
					continue
				}
				_ = iso.restore()
				return nil, fmt.Errorf("host: Isolate(%v): thread %d: %w", cpus, tid, err)
			}
			iso.moved = append(iso.moved, movedThread{tid, old})
		}
	}
	return iso, nil
}

// isolateMu serialises Isolate and Restore: each reads masks that the
// other writes, and a mask read in the middle of another call's changes
// would be restored later as if it were the original.
var isolateMu sync.Mutex

// Isolation records the threads Isolate moved. The nil *Isolation, which
// Isolate returns with an error, moved none: Restore does nothing.
type Isolation struct {
	moved []movedThread
}

type movedThread struct {
	tid  int
	mask sysx.CPUSet
}

// Threads returns how many threads Isolate moved.
func (iso *Isolation) Threads() int {
	if iso == nil {
		return 0
	}
	return len(iso.moved)
}

// Restore gives every moved thread that still exists its previous mask.
func (iso *Isolation) Restore() error {
	if iso == nil {
		return nil
	}
	isolateMu.Lock()
	defer isolateMu.Unlock()
	return iso.restore()
}

// restore is Restore with isolateMu held.
func (iso *Isolation) restore() error {
	var errs []error
	for _, m := range iso.moved {
		if err := sysx.SetTaskAffinity(m.tid, m.mask); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	iso.moved = nil
	return errors.Join(errs...)
}

func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("host: listing threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
