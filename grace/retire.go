package grace

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/ctdefer/ctdefer"
)

// Deferred reclamation: Retire, TryRetire, Barrier, Close.
//
// Retired functions are batched per Domain, in one mutex-guarded list. The
// reclaimer goroutine takes the whole list as one batch, calls Start, waits
// for that grace period, runs the batch in Retire order and counts it in
// ran. At MaxPending callbacks not yet run, Retire blocks and TryRetire
// returns ErrBacklog; a callback that retires (recognised by the
// reclaimer's goroutine id) is admitted past the bound, and Barrier or
// Close from a callback fail with ctdefer.ErrWouldDeadlock.
//
// The protocol and its invariants (a callback waits for a grace period that
// began after its Retire, Barrier waits for the run): docs/design/grace.md,
// The reclaimer.
type reclaimer struct {
	eng engine
	max uint64

	mu       sync.Mutex
	next     []func()      // retired, waiting for the reclaimer to take them
	spare    []func()      // the last batch's array, for reuse
	retired  uint64        // callbacks ever retired
	ran      uint64        // callbacks run: the first ran retired ones
	changed  chan struct{} // closed (and replaced) when ran, closing or err change
	started  bool          // the reclaimer goroutine runs
	closing  bool
	dropped  uint64 // callbacks never run because Close's context ended
	err      error  // why they were dropped
	kick     chan struct{}
	done     chan struct{} // closed when the reclaimer exits
	gid      uint64        // the reclaimer goroutine's id, once it runs; 0 before
	tok      Token         // the grace period the batch in flight waits for
	tokSet   bool          // tok is the batch in flight's (Start has returned)
	ctx      context.Context
	stopWait context.CancelCauseFunc
}

// engine is what the reclaimer needs of a flavour: the polled grace
// periods, a wait for one, and the error naming who holds one up.
type engine interface {
	Start() Token
	Poll(t Token) bool
	// waitFor waits until t's grace period is over and returns nil, or
	// ctx's error if ctx ends first.
	waitFor(ctx context.Context, t Token) error
	stallError(op string, waited time.Duration, err error) error
	// logger is Options.Logger: nil logs nothing.
	logger() *slog.Logger
}

func (r *reclaimer) init(eng engine, max int) {
	if max <= 0 {
		max = defaultMaxPending
	}
	r.eng, r.max = eng, uint64(max)
	r.changed = make(chan struct{})
	r.kick = make(chan struct{}, 1)
	r.done = make(chan struct{})
	r.ctx, r.stopWait = context.WithCancelCause(context.Background())
}

func (r *reclaimer) retire(fn func(), block bool) error {
	if fn == nil {
		op := "Retire"
		if !block {
			op = "TryRetire"
		}
		return nilArg("grace."+op, "fn")
	}
	r.mu.Lock()
	for {
		if r.closing {
			r.mu.Unlock()
			return fmt.Errorf("grace: Retire: %w", ctdefer.ErrClosed)
		}
		if r.retired-r.ran < r.max {
			break
		}
		if !block {
			n := r.retired - r.ran
			r.mu.Unlock()
			return fmt.Errorf("grace: TryRetire: %d callbacks pending (MaxPending %d): %w", n, r.max, ErrBacklog)
		}
		if r.onReclaimer() {
			break // a callback retiring: waiting would deadlock; admit it
		}
		ch := r.changed
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	}
	r.next = append(r.next, fn)
	r.retired++
	if !r.started {
		r.started = true
		go r.loop()
	}
	r.mu.Unlock()
	r.wake()
	return nil
}

// onReclaimer reports whether the caller is the reclaimer goroutine, that
// is, a retired callback. Called with mu held; it costs a runtime.Stack
// call, so only on paths that would otherwise wait for the reclaimer.
func (r *reclaimer) onReclaimer() bool {
	return r.gid != 0 && goid() == r.gid
}

// goid returns the calling goroutine's id, from the first line of its stack
// trace ("goroutine 42 [running]:"). Go exposes no other way; the format has
// been stable since Go 1.0, and a parse failure gives 0, which matches no
// reclaimer (the deadlock this guards against would then be possible again,
// not a wrong admission).
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// wake makes the reclaimer look at next; a pending wake-up is enough.
func (r *reclaimer) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// notify wakes every Barrier and blocked Retire. Called with mu held.
func (r *reclaimer) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// loop is the reclaimer goroutine: take a batch, wait for a grace period,
// run it, until closed and drained (docs/design/grace.md, The reclaimer).
func (r *reclaimer) loop() {
	defer close(r.done)
	g := r.eng
	id := goid()
	r.mu.Lock()
	r.gid = id
	r.mu.Unlock()
	for {
		r.mu.Lock()
		for len(r.next) == 0 && !r.closing {
			r.mu.Unlock()
			<-r.kick
			r.mu.Lock()
		}
		if len(r.next) == 0 { // closing, and everything has run
			r.mu.Unlock()
			return
		}
		batch := r.next
		r.next, r.spare = r.spare, nil
		r.mu.Unlock()

		t := g.Start() // after the take: after every Retire of the batch
		r.mu.Lock()
		r.tok, r.tokSet = t, true // for Barrier's self-wait check
		r.mu.Unlock()
		start := time.Now()
		if !g.Poll(t) {
			if err := g.waitFor(r.ctx, t); err != nil {
				// Close's context ended: drop what is left. Never running
				// a callback is safe; running it early is not.
				r.mu.Lock()
				r.err = g.stallError("Close", time.Since(start), context.Cause(r.ctx))
				r.dropped = r.retired - r.ran
				r.next = nil
				r.notify()
				r.mu.Unlock()
				return
			}
		}
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
		r.mu.Lock()
		r.ran += uint64(len(batch))
		r.tokSet = false
		r.spare = batch[:0]
		r.notify()
		r.mu.Unlock()
	}
}

func (r *reclaimer) barrier(ctx context.Context) error {
	if ctx == nil {
		return nilContext("Barrier")
	}
	start := time.Now()
	r.mu.Lock()
	target := r.retired
	self, sw := -1, selfWaiter(nil)
	var recheck <-chan time.Time
	if r.ran < target {
		if sw, _ = r.eng.(selfWaiter); sw != nil {
			self = sw.selfCPU()
		}
		if self >= 0 {
			// The grace period the batch waits for may record the
			// caller's CPU after the first check: look again every
			// millisecond.
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			recheck = t.C
		}
	}
	for r.ran < target {
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return fmt.Errorf("grace: Barrier: callbacks dropped by Close: %w", err)
		}
		if r.onReclaimer() {
			r.mu.Unlock()
			return fmt.Errorf("grace: Barrier: called from a retired callback (it would wait for itself): %w", ctdefer.ErrWouldDeadlock)
		}
		if self >= 0 && r.waitsForSelf(sw, self, target) {
			r.mu.Unlock()
			return fmt.Errorf("grace: Barrier: %w", sw.selfWaitError(self))
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-recheck:
		case <-ctx.Done():
			err := r.eng.stallError("Barrier", time.Since(start), ctx.Err())
			logStall(r.eng.logger(), "Barrier", err)
			return err
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

// selfWaiter is the kernel-stretch flavour's check for a caller that
// would wait for itself (wait.go); the QSBR flavour has its own (Debug).
type selfWaiter interface {
	selfCPU() int
	waitsForSelf(i int, t Token) bool
	selfWaitError(i int) error
}

// waitsForSelf reports whether the callbacks up to target wait for a grace
// period that needs the caller's CPU, index self, in the kernel: one that
// has not begun (the batch is not taken yet, or its Start has not
// returned), or the one the batch in flight waits for, if it holds self.
// Called with mu held.
func (r *reclaimer) waitsForSelf(sw selfWaiter, self int, target uint64) bool {
	if target > r.retired-uint64(len(r.next)) || !r.tokSet {
		return true
	}
	return sw.waitsForSelf(self, r.tok)
}

func (r *reclaimer) close(ctx context.Context) error {
	if ctx == nil {
		return nilContext("Close")
	}
	r.mu.Lock()
	if r.onReclaimer() {
		r.mu.Unlock()
		return fmt.Errorf("grace: Close: called from a retired callback (it would wait for itself): %w", ctdefer.ErrWouldDeadlock)
	}
	if r.closing {
		r.mu.Unlock()
		return fmt.Errorf("grace: Close: %w", ctdefer.ErrClosed)
	}
	r.closing = true
	started := r.started
	r.notify()
	r.mu.Unlock()
	defer r.stopWait(nil)
	if !started {
		return nil
	}
	r.wake()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.stopWait(ctx.Err())
		<-r.done
	}
	r.mu.Lock()
	dropped, err := r.dropped, r.err
	r.mu.Unlock()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("grace: Close: %d retired callbacks dropped, never run: %w", dropped, err)
	if l := r.eng.logger(); l != nil {
		// Error, not Warn: callbacks that will never run are memory the
		// program will never get back, and the one Close an operator
		// most needs to see.
		l.Error("grace: Close dropped retired callbacks, never run", "dropped", dropped, "err", err)
	}
	return err
}

func (r *reclaimer) counts() (retired, ran uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retired, r.ran
}
