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

// runGo runs the Go side of one placement for d: the same loops on the
// flavour f of package grace. Every reader and the writer lock their
// goroutine to its thread and pin the thread, as the C side does.
func runGo(f *flavour, p placement, d time.Duration) (result, error) {
	side := qsbrSide
	if f.memb {
		side = membSide
	}
	g, read, closeSide, err := side(p)
	if err != nil {
		return result{}, err
	}
	defer closeSide()
	ptr := grace.NewPointer(g, newInt())

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
	// start tells runGo that the caller is ready and returns once every
	// thread may start.
	start := func() {
		ready <- struct{}{}
		for atomic.LoadUint32(go_) == 0 { // load: the start flag, stored by runGo
		}
	}
	for i, cpu := range p.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started := false
			err := sysx.SetThreadAffinity(sysx.CPUSetOf(cpu))
			if err == nil {
				var n, b uint64
				n, b, err = read(i, ptr, stop, func() { started = true; start() })
				reads[i] = n
				bad.Add(b) // RMW: the bad reads of every reader; loaded once all have stopped
			}
			if err != nil {
				errs <- fmt.Errorf("workload: Go side, placement %s, reader on CPU %d: %w", p.name, cpu, err)
				if !started {
					ready <- struct{}{}
				}
			}
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
		start()
		ctx := context.Background()
		if p.perf {
			v0, c0, n := voluntarySwitches(), threadCPU(), uint64(0)
			for atomic.LoadUint32(stop) == 0 {
				if err := g.Synchronize(ctx); err != nil {
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
			if err := g.Synchronize(ctx); err != nil {
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

// reader is a flavour's reader goroutine, locked to its pinned thread:
// it registers as reader i, calls start, which returns when the run
// starts, runs its loop until stop and returns its reads and bad reads.
type reader func(i int, ptr *grace.Pointer[int], stop *uint32, start func()) (n, bad uint64, err error)

// qsbrSide makes the QSBR flavour's Domain for p. Each reader owns a CPU
// of a ctdefer.Domain. The Domain is unpinned and each thread pins itself,
// because placement c puts two readers on one core, which two claims of
// one pinned CPU cannot express; the protocol does not look at placement.
func qsbrSide(p placement) (*grace.Domain, reader, func(), error) {
	slots := make([]int, len(p.readers))
	for i := range slots {
		slots[i] = i
	}
	ctx := context.Background()
	dom, err := ctdefer.New(ctdefer.Options{CPUs: slots, Unpinned: true})
	if err != nil {
		return nil, nil, nil, err
	}
	q, err := grace.NewQSBR(dom, grace.Options{})
	if err != nil {
		dom.Close(ctx)
		return nil, nil, nil, err
	}
	read := func(i int, ptr *grace.Pointer[int], stop *uint32, start func()) (n, bad uint64, err error) {
		c, err := dom.Claim(i)
		if err != nil {
			return 0, 0, err
		}
		defer c.Release()
		c.UserEnter()
		r := q.Reader(c)
		r.Offline()
		start()
		r.Online()
		defer r.Offline()
		if p.perf {
			return qsbrPerfReader(r, stop), 0, nil
		}
		n, bad = qsbrReader(r, ptr, stop)
		return n, bad, nil
	}
	return q, read, func() { q.Close(ctx); dom.Close(ctx) }, nil
}

// membSide makes the memb flavour's Domain: each reader goroutine
// registers a Handle.
func membSide(p placement) (*grace.Domain, reader, func(), error) {
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	read := func(_ int, ptr *grace.Pointer[int], stop *uint32, start func()) (n, bad uint64, err error) {
		h, err := g.Register()
		if err != nil {
			return 0, 0, err
		}
		defer h.Unregister()
		start()
		if p.perf {
			return membPerfReader(h, stop), 0, nil
		}
		n, bad = membReader(h, ptr, stop)
		return n, bad, nil
	}
	return g, read, func() { g.Close(context.Background()) }, nil
}

// goHasMembarrier reports whether grace.NewMemb uses membarrier (else its
// read side fences).
func goHasMembarrier() bool {
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		return false
	}
	defer g.Close(context.Background())
	return g.Stats().Membarrier
}

// qsbrReader is test_urcu_qsbr's reader: a read-side section per read
// (empty in QSBR: the load and the check), a report every 1,024 reads. It
// returns the reads and the bad ones.
func qsbrReader(r *grace.Reader, ptr *grace.Pointer[int], stop *uint32) (n, bad uint64) {
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

// qsbrPerfReader is rcutorture's read-side performance loop: runs of
// 1,000 read-side sections, empty in the QSBR flavour, then a report.
func qsbrPerfReader(r *grace.Reader, stop *uint32) (n uint64) {
	for atomic.LoadUint32(stop) == 0 {
		n += 1000
		r.Quiescent()
	}
	return n
}

// membReader is test_urcu's reader (urcu-memb): the load and the check
// inside a read-side section, no report. It returns the reads and the bad
// ones.
func membReader(h *grace.Handle, ptr *grace.Pointer[int], stop *uint32) (n, bad uint64) {
	for atomic.LoadUint32(stop) == 0 { // load: the stop flag, stored by runGo
		h.Lock()
		v := ptr.Load()
		if v != nil {
			d := uint64(0) // a conditional move, as in qsbrReader
			if *v != 8 {
				d = 1
			}
			bad += d
		}
		h.Unlock()
		n++
	}
	return n, bad
}

// membPerfReader is rcutorture's read-side performance loop in the memb
// flavour: runs of 1,000 empty read-side sections.
func membPerfReader(h *grace.Handle, stop *uint32) (n uint64) {
	for atomic.LoadUint32(stop) == 0 { // load: the stop flag, stored by runGo
		for range 1000 {
			h.Lock()
			//lint:ignore SA2001 an empty section is the point: rcutorture's read-side loop
			h.Unlock()
		}
		n += 1000
	}
	return n
}

func newInt() *int { v := 8; return &v }
