package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/membarrier"
	"github.com/ctdefer/ctdefer/stats"
)

// The grace-period workload.
//
// An updater, pinned to one CPU, publishes a new table and waits until no
// reader can still hold the old one, back-to-back; one reader, pinned to
// another CPU, looks keys up in the published table in batches of 16, each
// batch one read-side critical section. Each scheme runs three phases:
// the reader alone (its lookups per second), the reader with the updater
// (the update's cost and the reader's lookups), and the updater with the
// reader idle (the update's cost when there is nobody to wait for). Two
// tables alternate, so no phase allocates.

// graceScheme is one way to wait for readers.
type graceScheme struct {
	name string
	note string
	// build prepares the scheme on the reader's Domain, before its CPU is
	// claimed (package grace registers work then).
	build func(d *ctdefer.Domain) (*graceOps, error)
}

// graceOps is a built scheme.
type graceOps struct {
	// read is the busy reader, on its CPU's owner, until stop; it returns
	// the lookups made.
	read func(c *ctdefer.CPU, stop *atomic.Bool) uint64
	// idle is the idle reader, on its CPU's owner, until ctx ends.
	idle func(c *ctdefer.CPU, ctx context.Context)
	// update publishes the other table and waits for the readers.
	update func(ctx context.Context) error
	// close releases what build made; nil: nothing.
	close func(ctx context.Context) error
	// parks: the idle reader parks in CPU.Idle (the updater waits until
	// the reader's CPU is Idle before it starts).
	parks bool
}

// errSkip marks a scheme this host cannot run; the message says why.
var errSkip = errors.New("not available here")

// graceSchemes are the grace-period workloads, in report order.
var graceSchemes = []graceScheme{
	{
		name:  "grace.Synchronize",
		note:  "readers' kernel stretches are the critical sections; a CPU in user mode or idle is skipped with two loads",
		build: buildSynchronize,
	},
	{
		name:  "grace QSBR Synchronize",
		note:  "readers look up in their user-mode hot loop and report Reader.Quiescent between batches; a parked CPU is skipped with loads",
		build: buildQSBR,
	},
	{
		name:  "membarrier private expedited",
		note:  "the barrier only (what liburcu's memb flavour pays per grace period besides its reader scan); an IPI to each CPU running a thread of the process",
		build: buildMembarrier,
	},
	{
		name:  "sync.RWMutex write lock",
		note:  "readers hold RLock around each batch; the update is Lock, swap, Unlock",
		build: buildRWMutex,
	},
	{
		name:  "per-object refcount",
		note:  "readers increment the table's count around each batch (re-checking the pointer); the updater swaps and spins until the old table's count is 0",
		build: buildRefcount,
	},
}

// table is the published object: 16 keys, a reference count for the
// refcount scheme.
type table struct {
	vals [16]uint64
	refs atomic.Int64
}

func (t *table) lookup() (sum uint64) {
	for _, v := range t.vals {
		sum += v
	}
	return sum
}

var graceSink atomic.Uint64

// pair holds the published table and the spare one, which the updater
// (only) swaps in.
type pair struct {
	cur   atomic.Pointer[table]
	spare *table
}

func newPair() *pair {
	p := &pair{spare: new(table)}
	p.cur.Store(new(table))
	return p
}

// swapAndWait is an update of a grace flavour: publish the spare table,
// wait for the readers of the old one, keep it as the next spare.
func (p *pair) swapAndWait(wait func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		old := p.cur.Swap(p.spare)
		err := wait(ctx)
		p.spare = old
		return err
	}
}

// idleUntil parks an idle reader that does not use ctdefer: it just waits.
func idleUntil(_ *ctdefer.CPU, ctx context.Context) { <-ctx.Done() }

// parkUntil is the idle reader of the grace flavours: parked in CPU.Idle
// until ctx ends (or the Domain closes).
func parkUntil(c *ctdefer.CPU, ctx context.Context) {
	for ctx.Err() == nil {
		if err := c.Idle(ctx); errors.Is(err, ctdefer.ErrClosed) {
			return
		}
	}
}

func buildSynchronize(d *ctdefer.Domain) (*graceOps, error) {
	g, err := grace.New(d, grace.Options{})
	if err != nil {
		return nil, err
	}
	p := newPair()
	return &graceOps{
		read: func(c *ctdefer.CPU, stop *atomic.Bool) uint64 {
			var n, sum uint64
			for !stop.Load() {
				// A kernel stretch of 8 batches, reporting at Checkpoint
				// between them, then a round trip through user mode.
				for range 8 {
					sum += p.cur.Load().lookup()
					n += 16
					g.Checkpoint(c)
				}
				c.UserEnter()
				c.KernelEnter()
			}
			graceSink.Add(sum)
			return n
		},
		idle:   parkUntil,
		update: p.swapAndWait(g.Synchronize),
		close:  g.Close,
		parks:  true,
	}, nil
}

func buildQSBR(d *ctdefer.Domain) (*graceOps, error) {
	q, err := grace.NewQSBR(d, grace.Options{})
	if err != nil {
		return nil, err
	}
	p := newPair()
	return &graceOps{
		read: func(c *ctdefer.CPU, stop *atomic.Bool) uint64 {
			var n, sum uint64
			r := q.Reader(c)
			c.UserEnter()
			for !stop.Load() {
				for range 8 {
					sum += p.cur.Load().lookup()
					n += 16
					r.Quiescent()
				}
			}
			r.Offline()
			c.KernelEnter()
			graceSink.Add(sum)
			return n
		},
		idle: func(c *ctdefer.CPU, ctx context.Context) {
			q.Reader(c) // online, but parked: skipped
			parkUntil(c, ctx)
		},
		update: p.swapAndWait(q.Synchronize),
		close:  q.Close,
		parks:  true,
	}, nil
}

func buildMembarrier(*ctdefer.Domain) (*graceOps, error) {
	if err := membarrier.RegisterPrivateExpedited(); err != nil {
		return nil, fmt.Errorf("%w: %v", errSkip, err)
	}
	p := newPair()
	return &graceOps{
		read: func(_ *ctdefer.CPU, stop *atomic.Bool) uint64 {
			var n, sum uint64
			for !stop.Load() {
				sum += p.cur.Load().lookup()
				n += 16
			}
			graceSink.Add(sum)
			return n
		},
		idle: idleUntil,
		update: func(context.Context) error {
			old := p.cur.Swap(p.spare)
			err := membarrier.PrivateExpedited()
			p.spare = old
			return err
		},
	}, nil
}

func buildRWMutex(*ctdefer.Domain) (*graceOps, error) {
	var mu sync.RWMutex
	obj, spare := new(table), new(table)
	return &graceOps{
		read: func(_ *ctdefer.CPU, stop *atomic.Bool) uint64 {
			var n, sum uint64
			for !stop.Load() {
				mu.RLock()
				sum += obj.lookup()
				mu.RUnlock()
				n += 16
			}
			graceSink.Add(sum)
			return n
		},
		idle: idleUntil,
		update: func(context.Context) error {
			mu.Lock()
			obj, spare = spare, obj
			mu.Unlock()
			return nil
		},
	}, nil
}

func buildRefcount(*ctdefer.Domain) (*graceOps, error) {
	p := newPair()
	return &graceOps{
		read: func(_ *ctdefer.CPU, stop *atomic.Bool) uint64 {
			var n, sum uint64
			for !stop.Load() {
				t := p.cur.Load()
				for {
					t.refs.Add(1)
					if now := p.cur.Load(); now == t {
						break
					} else {
						t.refs.Add(-1)
						t = now
					}
				}
				sum += t.lookup()
				t.refs.Add(-1)
				n += 16
			}
			graceSink.Add(sum)
			return n
		},
		idle: idleUntil,
		update: func(ctx context.Context) error {
			old := p.cur.Swap(p.spare)
			for i := 0; old.refs.Load() != 0; i++ {
				if i%1024 == 1023 {
					if err := ctx.Err(); err != nil {
						return err
					}
					runtime.Gosched()
				}
			}
			p.spare = old
			return nil
		},
	}, nil
}

// graceSetup is what every phase shares.
type graceSetup struct {
	writer, reader int
	pinned         bool
	dur            time.Duration
	clockNs        float64
}

// The phases of a scheme.
const (
	phaseAlone = iota // busy reader, no updater
	phaseBusy         // busy reader, updater
	phaseIdle         // idle reader, updater
)

var phaseNames = [...]string{"reader alone", "reader and updater", "updater, reader idle"}

// phaseResult is one phase's figures.
type phaseResult struct {
	lookupsPerSec float64
	updates       GracePhase
}

// runGracePhase runs one phase of scheme; the caller's goroutine is the
// updater.
func runGracePhase(s graceSetup, scheme graceScheme, phase int) (res phaseResult, err error) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{s.reader}, Unpinned: !s.pinned})
	if err != nil {
		return res, err
	}
	ops, err := scheme.build(d)
	if err != nil {
		_ = d.Close(context.Background())
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.dur+30*time.Second)
	defer cancel()
	defer func() {
		if ops.close != nil {
			if cerr := ops.close(ctx); err == nil && cerr != nil {
				err = cerr
			}
		}
		if cerr := d.Close(ctx); err == nil && cerr != nil {
			err = cerr
		}
	}()

	var start, stop atomic.Bool
	idleCtx, endIdle := context.WithCancel(ctx)
	defer endIdle()
	type outcome struct {
		lookups        uint64
		elapsed, onCPU time.Duration
		err            error
	}
	ready := make(chan error, 1)
	done := make(chan outcome, 1)
	go func() {
		c, err := d.Claim(s.reader)
		ready <- err
		if err != nil {
			return
		}
		var o outcome
		if phase == phaseIdle {
			ops.idle(c, idleCtx)
		} else {
			for !start.Load() {
			}
			cpu0, ok0 := threadCPUTime()
			t := time.Now()
			o.lookups = ops.read(c, &stop)
			o.elapsed = time.Since(t)
			if cpu1, ok1 := threadCPUTime(); ok0 && ok1 {
				o.onCPU = cpu1 - cpu0
			}
		}
		o.err = c.Release()
		done <- o
	}()
	if err := <-ready; err != nil {
		return res, fmt.Errorf("pinning the reader to CPU %d: %w", s.reader, err)
	}
	finish := func() outcome {
		stop.Store(true)
		endIdle()
		return <-done
	}

	// The updater, pinned through a Domain of its own: it must not be an
	// owner in the reader's Domain, whose grace periods would wait for it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wd, err := ctdefer.New(ctdefer.Options{CPUs: []int{s.writer}, Unpinned: !s.pinned})
	if err != nil {
		finish()
		return res, err
	}
	defer wd.Close(context.Background())
	wc, err := wd.Claim(s.writer)
	if err != nil {
		finish()
		return res, fmt.Errorf("pinning the updater to CPU %d: %w", s.writer, err)
	}
	defer wc.Release()

	if phase == phaseIdle {
		// Let the reader reach its park (or its wait) first.
		for deadline := time.Now().Add(time.Second); ops.parks && corelink.Of[ctdefer.CPU](d).State(s.reader) != ctseq.Idle && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(time.Millisecond)
	}
	start.Store(true)
	var upErr error
	if phase == phaseAlone {
		time.Sleep(s.dur)
	} else {
		res.updates, upErr = timeUpdates(ctx, s.dur, s.clockNs, ops.update)
	}
	o := finish()
	// Per second of the reader's time on its CPU, where known: time other
	// processes took from it is not the updater's doing.
	switch {
	case o.onCPU > 0:
		res.lookupsPerSec = float64(o.lookups) / o.onCPU.Seconds()
	case o.elapsed > 0:
		res.lookupsPerSec = float64(o.lookups) / o.elapsed.Seconds()
	}
	if upErr != nil {
		return res, upErr
	}
	return res, o.err
}

// timeUpdates runs update back-to-back for dur and returns the mean, the
// median and the p99 of its cost. Each update is timed alone, less the
// clock read that costs, unless it is too cheap for that (calibration
// rounds find it under 20 clock reads): then batches of updates are timed,
// each long enough to make the clock reads negligible, and the median and
// p99 are of the batches' means (Batch says how many).
func timeUpdates(ctx context.Context, dur time.Duration, clockNs float64, update func(context.Context) error) (GracePhase, error) {
	var ph GracePhase
	// Calibrate: the best of a few short rounds, so that a round in which
	// the thread was descheduled does not make updates look expensive.
	best := math.Inf(1)
	for range 8 {
		t := time.Now()
		for range 16 {
			if err := update(ctx); err != nil {
				return ph, err
			}
		}
		best = min(best, float64(time.Since(t).Nanoseconds())/16)
	}
	batch := 1
	if best < 20*clockNs {
		batch = int(min(40*clockNs/max(best, 1), 1<<16)) + 1
	}
	var h stats.Histogram
	var total time.Duration
	var ops uint64
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		t := time.Now()
		for range batch {
			if err := update(ctx); err != nil {
				return ph, err
			}
		}
		dt := time.Since(t)
		total += dt
		ops += uint64(batch)
		if batch == 1 {
			h.Record(dt - time.Duration(clockNs))
		} else {
			h.Record(dt / time.Duration(batch))
		}
	}
	ph.Ran, ph.Ops, ph.Batch = true, ops, batch
	if ops > 0 {
		ph.NsPerOp = float64(total.Nanoseconds()) / float64(ops)
		if batch == 1 {
			ph.NsPerOp = max(ph.NsPerOp-clockNs, 0)
		}
	}
	ph.P50, ph.P99 = h.Quantile(0.5), h.Quantile(0.99)
	return ph, nil
}
