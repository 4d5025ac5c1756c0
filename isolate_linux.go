//go:build linux

package ctdefer

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
// that Claim those CPUs run there. Go creates new threads from threads that
// are not pinned (its template thread, or the thread that needs one), so
// threads created later inherit the restricted mask too.
//
// Call it before claiming the isolated CPUs. A thread whose mask lies
// entirely inside cpus (a worker already pinned there) is left alone. The
// returned Isolation restores the previous masks.
//
// Errors: ErrCPUNotAllowed if no allowed CPU would remain for the other
// threads, ErrAffinity (with the errno) if a thread's mask cannot be changed.
func Isolate(cpus ...int) (*Isolation, error) {
	iso := &Isolation{cpus: cpus}
	drop := sysx.CPUSetOf(cpus...)
	isolatedMu.Lock()
	defer isolatedMu.Unlock()
	// Two passes: a thread created during the first may have copied an
	// old mask.
	for range 2 {
		tids, err := threadIDs()
		if err != nil {
			return nil, err
		}
		for _, tid := range tids {
			old, err := sysx.TaskAffinity(tid)
			if errors.Is(err, syscall.ESRCH) {
				continue // exited meanwhile
			}
			if err != nil {
				_ = iso.Restore()
				return nil, fmt.Errorf("ctdefer: Isolate(%v): thread %d: %w: %w", cpus, tid, ErrAffinity, err)
			}
			keep := old
			changed := false
			for _, c := range old.List() {
				if drop.Has(c) {
					keep.Clear(c)
					changed = true
				}
			}
			if !changed {
				continue
			}
			if keep.Count() == 0 {
				if len(iso.moved) == 0 && tid == os.Getpid() {
					return nil, fmt.Errorf("ctdefer: Isolate(%v): the process may only run on %v: %w", cpus, old, ErrCPUNotAllowed)
				}
				continue // a worker pinned inside the isolated set
			}
			if err := sysx.SetTaskAffinity(tid, keep); err != nil {
				if errors.Is(err, syscall.ESRCH) {
					continue
				}
				_ = iso.Restore()
				return nil, fmt.Errorf("ctdefer: Isolate(%v): thread %d: %w: %w", cpus, tid, ErrAffinity, err)
			}
			iso.moved = append(iso.moved, movedThread{tid, old})
		}
	}
	for _, c := range cpus {
		isolated.Set(c)
	}
	return iso, nil
}

// isolated holds the CPUs taken out of the process's mask by Isolate: they
// still count as allowed for New and Claim.
var (
	isolatedMu sync.Mutex
	isolated   sysx.CPUSet
)

// withIsolated adds the isolated CPUs to an allowed set.
func withIsolated(s sysx.CPUSet) sysx.CPUSet {
	isolatedMu.Lock()
	defer isolatedMu.Unlock()
	for _, c := range isolated.List() {
		s.Set(c)
	}
	return s
}

// Isolation records the threads Isolate moved.
type Isolation struct {
	cpus  []int
	moved []movedThread
}

type movedThread struct {
	tid  int
	mask sysx.CPUSet
}

// Threads returns how many threads Isolate moved.
func (iso *Isolation) Threads() int { return len(iso.moved) }

// Restore gives every moved thread that still exists its previous mask.
func (iso *Isolation) Restore() error {
	isolatedMu.Lock()
	for _, c := range iso.cpus {
		isolated.Clear(c)
	}
	isolatedMu.Unlock()
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
		return nil, fmt.Errorf("ctdefer: listing threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
