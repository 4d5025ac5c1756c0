//go:build liburcu && linux

package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// runGo runs the Go side of one placement for d: the same loops on the QSBR
// flavour. Each reader owns a CPU of a ctdefer.Domain. The Domain is
// unpinned and each thread pins itself, because placement c puts two
// readers on one core, which two claims of one pinned CPU cannot express;
// the protocol does not look at placement.
func runGo(p placement, d time.Duration) (result, error) {
	slots := make([]int, len(p.readers))
	for i := range slots {
		slots[i] = i
	}
	dom, err := ctdefer.New(ctdefer.Options{CPUs: slots, Unpinned: true})
	if err != nil {
		return result{}, err
	}
	defer dom.Close(context.Background())
	q, err := grace.NewQSBR(dom, grace.Options{})
	if err != nil {
		return result{}, err
	}
	defer q.Close(context.Background())
	ptr := grace.NewPointer(q, newInt())

	// The flags the loops poll, on a line of their own: nothing the loops
	// write shares it.
	flags := new(struct {
		_         [64]byte
		go_, stop uint32 // sync/atomic's functions: C's CMM_LOAD_SHARED, with no inlined wrapper
		_         [64]byte
	})
	go_, stop := &flags.go_, &flags.stop
	var bad atomicx.Uint64
	var wg sync.WaitGroup
	reads := make([]uint64, len(p.readers))
	errs := make(chan error, len(p.readers)+1)
	ready := make(chan struct{}, len(p.readers)+1)
	for i, cpu := range p.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c, err := dom.Claim(i)
			if err == nil {
				err = sysx.SetThreadAffinity(sysx.CPUSetOf(cpu))
			}
			if err != nil {
				errs <- fmt.Errorf("workload: Go side, placement %s, reader on CPU %d: %w", p.name, cpu, err)
				ready <- struct{}{}
				return
			}
			defer c.Release()
			c.UserEnter()
			r := q.Reader(c)
			r.Offline()
			ready <- struct{}{}
			for atomic.LoadUint32(go_) == 0 {
			}
			r.Online()
			var n, b uint64
			if p.perf {
				n = perfReader(r, stop)
			} else {
				n, b = reader(r, ptr, stop)
			}
			r.Offline()
			reads[i] = n
			bad.Add(b)
		}()
	}
	var writes, vcsw uint64
	var cpu time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread() // for the thread's context-switch counters
		defer runtime.UnlockOSThread()
		if p.writer >= 0 {
			if err := sysx.SetThreadAffinity(sysx.CPUSetOf(p.writer)); err != nil {
				errs <- fmt.Errorf("workload: Go side, placement %s, writer on CPU %d: %w", p.name, p.writer, err)
				ready <- struct{}{}
				return
			}
		}
		ready <- struct{}{}
		for atomic.LoadUint32(go_) == 0 {
		}
		ctx := context.Background()
		if p.perf {
			v0, c0, n := voluntarySwitches(), threadCPU(), uint64(0)
			for atomic.LoadUint32(stop) == 0 {
				if err := q.Synchronize(ctx); err != nil {
					errs <- err
					return
				}
				n++
			}
			writes, vcsw, cpu = n, voluntarySwitches()-v0, threadCPU()-c0
			return
		}
		var spare *int // the object freed by the last write: malloc's reuse, without the allocator
		v0, c0, n := voluntarySwitches(), threadCPU(), uint64(0)
		for atomic.LoadUint32(stop) == 0 {
			nv := spare
			if nv == nil {
				nv = newInt()
			}
			*nv = 8
			old := ptr.Swap(nv)
			if err := q.Synchronize(ctx); err != nil {
				errs <- err
				return
			}
			if old != nil {
				*old = 0 // poison: a reader that still held it would see 0
			}
			spare = old
			n++
		}
		writes, vcsw, cpu = n, voluntarySwitches()-v0, threadCPU()-c0
	}()
	for range len(p.readers) + 1 {
		<-ready
	}
	atomic.StoreUint32(go_, 1)
	select {
	case err := <-errs:
		atomic.StoreUint32(stop, 1)
		wg.Wait()
		return result{}, err
	case <-time.After(d):
	}
	atomic.StoreUint32(stop, 1)
	wg.Wait()
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	var sum uint64
	for _, n := range reads {
		sum += n
	}
	return result{reads: sum, writes: writes, vcsw: vcsw, cpu: cpu, bad: bad.Load(), d: d}, nil
}

// reader is test_urcu_qsbr's reader: a read-side section per read (empty
// in QSBR: the load and the check), a report every 1,024 reads. It returns
// the reads and the bad ones.
func reader(r *grace.Reader, ptr *grace.Pointer[int], stop *uint32) (n, bad uint64) {
	for atomic.LoadUint32(stop) == 0 {
		v := ptr.Load()
		if v != nil {
			// Without a branch, as gcc compiles the C side's check: Go's
			// compiler turns this form into a conditional move.
			d := uint64(0)
			if *v != 8 {
				d = 1
			}
			bad += d
		}
		n++
		if n&1023 == 0 {
			r.Quiescent()
		}
	}
	return n, bad
}

// perfReader is rcutorture's read-side performance loop: runs of 1,000
// read-side sections, empty in the QSBR flavour, then a report.
func perfReader(r *grace.Reader, stop *uint32) (n uint64) {
	for atomic.LoadUint32(stop) == 0 {
		n += 1000
		r.Quiescent()
	}
	return n
}

func newInt() *int { v := 8; return &v }
