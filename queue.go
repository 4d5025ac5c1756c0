package ctdefer

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/tracex"
)

// A queue of values: one registered Work whose handler drains a bounded
// per-CPU ring, multi-producer (senders), single-consumer (whoever runs the
// Work's handler for the CPU). The protocol and its invariants (each value
// runs exactly once or is handed back, one sender's values run in order, the
// ring has one consumer): docs/design/delivery.md, Protocol: queues of
// values (its steps Q1 to Q6 are the ones named below).

// Queue is a typed per-CPU queue of values with the delivery guarantees of
// a Work: a value sent to a CPU in user mode runs at the CPU's next kernel
// entry without interrupting it; one sent to a CPU in the kernel or parked
// is delivered as an IPI, or run on the CPU's behalf by the sender if the
// queue was registered RemoteSafe. Each value runs exactly once, or is
// handed back with the value itself (Close's *UndeliveredError, an owner
// that exited), never both; values from one sender run in the order sent.
//
// Create it with NewQueue, before the Domain's first Claim. It is safe for
// concurrent use by any number of senders and must not be copied.
type Queue[T any] struct {
	_        percpu.NoCopy
	d        *Domain
	w        Work
	bit      ctseq.Work // w's bit in the word
	handle   func(cpu int, v T)
	capacity uint64 // values per CPU, as given to NewQueue
	mask     uint64 // len of one CPU's cells - 1 (a power of two ≥ capacity)
	stride   uint64 // cells between the starts of two CPUs' rings (with padding)
	rings    []ring // one per CPU of the Domain, in its CPU order
	cells    []cell[T]
}

// cell is one place of a ring. seq is the position that the value in it
// was published for, plus one (truncated to 32 bits: two positions a cell
// holds differ by less than 2^32, so the truncation is exact); 0 before its
// first use.
type cell[T any] struct {
	seq atomicx.Uint32
	v   T
}

// ring is one CPU's ring of positions: tail and head, in lines written by
// different parties (senders, the consumer), and the hand-back record.
//
//	tail: bit 63 dead (Close killed the ring), bits 0-62 the next position to reserve
//	head: every position below it has run or been handed back
//
// Invariant: head ≤ tail&^ringDead ≤ head + capacity.
type ring struct {
	ringTail
	_ [(percpu.CacheLine - unsafe.Sizeof(ringTail{})%percpu.CacheLine) % percpu.CacheLine]byte
	ringHead
	_ [(percpu.CacheLine - unsafe.Sizeof(ringHead{})%percpu.CacheLine) % percpu.CacheLine]byte
	ringBack
	_ [(percpu.CacheLine - unsafe.Sizeof(ringBack{})%percpu.CacheLine) % percpu.CacheLine]byte
}

type ringTail struct {
	// tail is written by senders (reservation CAS, step Q1) and by Close
	// (kill, step Q6).
	tail atomicx.Uint64
	// headSeen is a value head had, stored by a sender that loaded it:
	// never above head (head only grows), so a room check against it
	// only under-reports the room. Senders read head's line only when it
	// says full, so that in the steady state they touch the tail line and
	// the cells, not the line the consumer writes.
	headSeen atomicx.Uint64
}

type ringHead struct {
	// head is written by the ring's one consumer after values' handlers
	// return (step Q4: after each value while a SendWait waits on the
	// ring, else once per drain), or by a hand-back (Q5, Q6): it frees
	// the values' cells and completes SendWait.
	head atomicx.Uint64
}

// ringBack records the positions handed back instead of run, for SendWait
// (the hand-back log's protocol, handback.go, for positions: a waiter
// counts itself, takes its mark, and looks for its position from its mark
// on; a hand-back that finds no waiter first empties the record).
type ringBack struct {
	n       atomicx.Uint64 // hand-backs so far; incremented under mu before the head store
	waiters atomicx.Int32  // SendWait calls in progress on this ring
	mu      atomicx.Mutex  // guards back
	back    []backRange
}

// backRange is a run of positions [from, to) handed back for err.
type backRange struct {
	from, to uint64
	err      error
}

const (
	ringDead = uint64(1) << 63
	// maxQueueCapacity bounds NewQueue's capacity: the cells are
	// allocated at once, for every CPU.
	maxQueueCapacity = 1 << 24
)

// valueQueue is what Close and the reclaim of an exited owner need of a
// Queue, whatever its type of value (workInfo.queue).
type valueQueue interface {
	// reclaim hands back the values published in ring i (up to the first
	// position reserved but not yet published), for an owner that exited.
	reclaim(i int, err error)
	// closeRing kills ring i, waits for the senders between reservation
	// and publication, and runs the values left (RemoteSafe) or hands them
	// back; it returns the panics of the values it ran.
	closeRing(i int) []error
}

// NewQueue registers a queue of values of type T on d, with room for
// capacity values per CPU, and returns it. It registers one Work named name
// (so it counts against the Domain's limit of 16 kinds of work, see
// Domain.Register, and appears under that name in Stats), whose handler
// runs handle for each value sent to a CPU, with the CPU's number, in the
// order the values were enqueued. Like Register, NewQueue may be called only
// before the first Claim; opts are Register's (RemoteSafe: a sender that
// finds the CPU parked runs the values itself, on its behalf).
//
// handle runs where a Work's handler runs (on the CPU's owner in kernel
// mode, or on a borrower for RemoteSafe queues), one value at a time; it
// must not block and must not call owner methods. If it panics, the value
// counts as run, the rest of the values found by the same drain still run,
// and then the panic propagates as a handler's does (a *ctseq.HandlerPanic
// carrying the first panic's value, from KernelEnter, Poll, Release, ...).
//
// The rings are allocated here (capacity rounded up to a power of two cells
// per CPU, padded from the next CPU's); sending does not allocate. Stats
// count the queue's work as any work's: its deliveries and the drains that
// ran values, not the values.
//
// The value's type may hold pointers: a value is cleared from its cell
// when it runs or is handed back.
//
// Errors: Register's, and an *ArgError (errors.Is: ErrInvalid) for a nil
// Domain or handle, or a capacity below 1 or above 1<<24.
func NewQueue[T any](d *Domain, name string, capacity int, handle func(cpu int, v T), opts ...RegisterOption) (*Queue[T], error) {
	const call = "ctdefer.NewQueue"
	switch {
	case d == nil:
		return nil, &ArgError{Call: call, Arg: "d", Reason: "nil Domain"}
	case handle == nil:
		return nil, &ArgError{Call: call, Arg: "handle", Reason: fmt.Sprintf("nil (queue %q)", name)}
	case capacity < 1 || capacity > maxQueueCapacity:
		return nil, &ArgError{Call: call, Arg: "capacity", Value: capacity, Reason: fmt.Sprintf("out of range [1, %d]", maxQueueCapacity)}
	}
	n := uint64(1) << bits.Len64(uint64(capacity)-1)
	var c cell[T]
	pad := (uint64(percpu.CacheLine) + uint64(unsafe.Sizeof(c)) - 1) / uint64(unsafe.Sizeof(c))
	q := &Queue[T]{
		d:        d,
		handle:   handle,
		capacity: uint64(capacity),
		mask:     n - 1,
		stride:   n + pad,
		rings:    make([]ring, d.cpus.Len()),
	}
	q.cells = make([]cell[T], uint64(d.cpus.Len())*q.stride)
	opts = append(opts[:len(opts):len(opts)], func(w *workInfo) { w.queue = q })
	w, err := d.Register(name, q.consume, opts...)
	if err != nil {
		var ae *ArgError
		if errors.As(err, &ae) {
			c := *ae
			c.Call = call
			return nil, &c
		}
		return nil, err
	}
	q.w, q.bit = w, ctseq.Of(int(w.info.bit))
	return q, nil
}

// cell returns the cell of position pos in ring i.
func (q *Queue[T]) cell(i int, pos uint64) *cell[T] {
	return &q.cells[uint64(i)*q.stride+pos&q.mask]
}

// Send enqueues the values vs for cpu, all of them or none, and delivers the
// queue's work to cpu once for the whole batch (one deferral: one word CAS
// for a CPU in user mode), saying how, as Domain.Defer does. The values run
// on cpu in the order given, after those the same goroutine sent before,
// each exactly once: at the CPU's next kernel entry if it is in user mode
// (the CPU is not disturbed), else by IPI at its next poll point, or on the
// sender before Send returns for a RemoteSafe queue and a parked CPU. A
// value runs once every value enqueued before it on that CPU is published,
// so a value may wait for a concurrent sender that is between its
// reservation and its deferral (a few stores).
//
// If vs does not fit in the room left on cpu, nothing is enqueued and Send
// returns an error wrapping ErrFull that names the CPU and the capacity:
// retry later, or drop. Send with no values does nothing and returns (0,
// nil).
//
// A nil error means the values were accepted: each will run exactly once or
// be handed back (in Close's *UndeliveredError, with the value, when Close
// or an exited owner left it undelivered; a Send racing with Close may be
// accepted and handed back). An error means none was enqueued: ErrFull,
// ErrClosed, or an *ArgError (ErrInvalid) for a CPU not in the Domain or a
// batch larger than the capacity. Send does not allocate when it succeeds.
func (q *Queue[T]) Send(cpu int, vs ...T) (Delivery, error) {
	_, how, err := q.send("Send", cpu, vs)
	return how, err
}

// send is Send: steps Q1 to Q3. It returns the position of the first value.
func (q *Queue[T]) send(method string, cpu int, vs []T) (pos uint64, how Delivery, err error) {
	d := q.d
	i := d.cpus.Of(cpu)
	n := uint64(len(vs))
	if i < 0 || n > q.capacity || d.closed.Load() { // load: Close's store; a Send that passes it is accounted for by Close (step Q6)
		return 0, 0, q.sendError(method, cpu, i, n)
	}
	if n == 0 {
		return 0, 0, nil
	}
	r := &q.rings[i]
	// Step Q1: reserve n positions, all or none.
	t := r.tail.Load() // load: first guess for the CAS
	for {
		if t&ringDead != 0 {
			return 0, 0, fmt.Errorf("ctdefer: Queue(%s).%s(%d): %w", q.w.String(), method, cpu, ErrClosed)
		}
		// load: a head seen before (headSeen), then, if that says full,
		// head itself, which pairs with the consumer's store (Q4). A
		// stale head only under-reports the room, never over-reports it.
		if h := r.headSeen.Load(); t+n > h+q.capacity && !r.roomAfterAll(t+n, q.capacity) {
			return 0, 0, fmt.Errorf("ctdefer: Queue(%s).%s(%d): %d value(s) do not fit: the queue on CPU %d is full (capacity %d): %w",
				q.w.String(), method, cpu, n, cpu, q.capacity, ErrFull)
		}
		// CAS: the reservation; pairs with the other senders' CAS and
		// Close's kill (a position is reserved by one sender, and never
		// after the kill).
		if r.tail.CompareAndSwap(t, t+n) {
			break
		}
		t = r.tail.Load() // load: retry on the fresh value
	}
	// Step Q2: publish, in order. The cells are free: every position below
	// t+n-capacity has been consumed (head), and the consumer read a cell
	// before it published its head.
	for k := range vs {
		c := q.cell(i, t+uint64(k))
		c.v = vs[k]
		c.seq.Store(uint32(t + uint64(k) + 1)) // store: publish the value; pairs with the consumer's load (Q4)
	}
	// Step Q3: one delivery of the work for the whole batch, after the
	// values are published (payload before handler: the delivery's CAS
	// publishes them to the drain it triggers).
	s := &d.slots[i]
	if s.policy.Load() == policyTracked { // load: set at Claim
		if _, ok := s.word.SetWorkIfUser(q.bit); ok { // CAS: the deferral
			return t, Deferred, nil
		}
	}
	tk, err := d.deliver("Queue.Send", s, q.w)
	if err != nil {
		// The mailbox is dead: Close has reached its step 3 and will close
		// the ring after it (Q6), which runs or hands back these values.
		return t, IPI, nil
	}
	return t, tk.how(), nil
}

// roomAfterAll is Q1's slow room check: it loads head, keeps it in
// headSeen for the senders that follow, and reports whether end (the
// reservation's end) is within capacity of it.
func (r *ring) roomAfterAll(end, capacity uint64) bool {
	h := r.head.Load()  // load: pairs with the consumer's store (Q4) or a hand-back's
	r.headSeen.Store(h) // store: a value head had; pairs with the senders' loads (never above head)
	return end <= h+capacity
}

// sendError is the error of a Send refused before any reservation.
func (q *Queue[T]) sendError(method string, cpu, i int, n uint64) error {
	switch {
	case i < 0:
		return badCPU("ctdefer.Queue."+method, cpu, q.d.cpus.List(), "domain")
	case n > q.capacity:
		return &ArgError{Call: "ctdefer.Queue." + method, Arg: "vs", Value: n,
			Reason: fmt.Sprintf("a batch of %d values cannot fit in queue %q (capacity %d per CPU)", n, q.w.String(), q.capacity)}
	}
	return fmt.Errorf("ctdefer: Queue(%s).%s(%d): %w", q.w.String(), method, cpu, ErrClosed)
}

// SendWait sends v to cpu like Send and waits until it has run.
//
// It honours ctx as Domain.DeferWait does: when ctx ends it returns an
// error wrapping ctx.Err() that says what the CPU was doing (the value is
// still enqueued and will run); without a deadline it gives up after
// Options.IPITimeout with an error wrapping ErrIPITimeout. A wait that
// lasts looks for an owner that exited without Release. If the value is
// handed back instead of run, SendWait returns an error wrapping the reason
// (ErrClosed, ErrOwnerGone); the value never runs, so it may be sent again.
// SendWait does not wait for room: a full queue gives ErrFull at once, as
// Send does.
func (q *Queue[T]) SendWait(ctx context.Context, cpu int, v T) error {
	ctx, end := tracex.Task(ctx, "ctdefer.Queue.SendWait")
	defer end()
	d := q.d
	i := d.cpus.Of(cpu)
	if i < 0 {
		return q.sendError("SendWait", cpu, i, 1)
	}
	r := &q.rings[i]
	r.waiters.Inc()       // RMW: before the reservation; pairs with a hand-back's load (Q5: the record's bound)
	defer r.waiters.Dec() // RMW: the wait is over
	mark := r.n.Load()    // load: after the count; pairs with the increment in handBack
	pos, how, err := q.send("SendWait", cpu, []T{v})
	if err != nil {
		return err
	}
	s := &d.slots[i]
	done := func() bool { return r.head.Load() > pos } // load: pairs with the consumer's store after the value's handler (Q4), or a hand-back's
	if !done() {
		kind := uint8(ticketDeferred)
		if how != Deferred {
			kind = ticketIPI
		}
		if err := q.wait(ctx, s, done, kind); err != nil {
			return err
		}
	}
	if err := r.handedBack(pos, mark); err != nil {
		return fmt.Errorf("ctdefer: Queue(%s).SendWait(%d): handed back, never run: %w", q.w.String(), cpu, err)
	}
	return nil
}

// wait blocks until done, as Domain.wait does for a delivery.
func (q *Queue[T]) wait(ctx context.Context, s *slot, done func() bool, kind uint8) error {
	d := q.d
	start := time.Now()
	before := s.word.Snapshot()
	_, hasDeadline := ctx.Deadline()
	stalled := !hasDeadline || d.opts.Logger == nil
	t := ticket{kind: kind}
	wt := percpu.Waiter{
		Spin: d.opts.SpinWait,
		LongSleep: func(n int) bool {
			if !stalled && time.Since(start) >= d.opts.IPITimeout {
				stalled = true
				d.logWait("Queue.SendWait", s, q.w, t.how().String(), before, time.Since(start), nil)
			}
			return n%16 == 0 && d.reapIfDead(s, n%256 == 0)
		},
	}
	if !hasDeadline {
		wt.Timeout = d.opts.IPITimeout
	}
	err := wt.Until(ctx, done)
	if err == nil || d.reapIfDead(s, true) && done() {
		return nil
	}
	if err == percpu.ErrTimeout {
		err = ErrIPITimeout
	}
	return d.waitError("Queue.SendWait", s, q.w, t, before, time.Since(start), err)
}

// consume is the queue's Work handler: step Q4, on the ring's one consumer
// (the CPU's owner in a kernel stretch, a borrower of the parked CPU, or
// Close for a CPU nobody holds: the ring has one consumer).
func (q *Queue[T]) consume(cpu int) {
	i := q.d.cpus.Of(cpu)
	r := &q.rings[i]
	h := r.head.Load() // load: the consumer's own last store
	dr := drainer[T]{q: q, r: r, i: i, cpu: cpu, h: h, published: h}
	for !dr.empty {
		dr.run()
	}
	dr.publish()
	if dr.panicked {
		panic(dr.p)
	}
}

// drainer is the state of one consume, shared with its deferred recover
// (ctseq's Table.run does the same for bits).
type drainer[T any] struct {
	q         *Queue[T]
	r         *ring
	i, cpu    int
	h         uint64 // the next position to run
	published uint64 // the last head stored
	in        bool   // a value's handler is running: a deferred recover that finds no panic sees a runtime.Goexit
	empty     bool   // the next position is not published
	panicked  bool
	p         any // the first panic's value
}

// run runs published values in order until the next position is not
// published, or one panics. One deferred recover per panic, not per value,
// keeps the common path cheap.
func (dr *drainer[T]) run() {
	defer dr.recover()
	q, r := dr.q, dr.r
	for {
		c := q.cell(dr.i, dr.h)
		if c.seq.Load() != uint32(dr.h+1) { // load: pairs with the sender's store after writing the value (Q2)
			dr.empty = true
			return
		}
		v := c.v
		var zero T
		c.v = zero // let the value go; the cell is free once head passes it
		dr.in = true
		q.handle(dr.cpu, v)
		dr.in = false
		dr.h++
		// load: pairs with SendWait's count before its reservation, which
		// the seq load above follows: a waiter's value is published at once.
		if r.waiters.Load() != 0 {
			dr.publish()
		}
	}
}

// publish stores head after the values run so far: at once after each
// value while a SendWait waits on the ring, else once at the end of the
// drain (one store per drain, not per value, on a line senders read only
// when the ring looks full).
func (dr *drainer[T]) publish() {
	if dr.h != dr.published {
		dr.published = dr.h
		dr.r.head.Store(dr.h) // store: the values have run (frees their cells); pairs with the senders' load (Q1) and SendWait's
	}
}

// recover ends a value's handler that panicked or called runtime.Goexit:
// the value counts as run. After a panic, consume goes on with the next
// value; after a Goexit, the rest run here, as the Goexit unwinds.
func (dr *drainer[T]) recover() {
	if !dr.in {
		return // no handler was running: nothing of ours to recover (recover is not called, so any other panic goes on)
	}
	v := recover()
	dr.in = false
	dr.h++
	dr.publish() // the value that panicked counts as run
	if v == nil {
		for !dr.empty {
			dr.run()
		}
		dr.publish()
		if dr.panicked {
			panic(dr.p)
		}
		return
	}
	if !dr.panicked {
		dr.panicked, dr.p = true, v
	}
}

// reclaim is step Q5: the reclaimer of an exited owner hands back what ring
// i holds, up to the first position not yet published (the sender of that
// position delivers the work after publishing, so the rest will be run by
// the CPU's next owner, or closed by Close). Called with d.mu held; the owner
// is gone and the CPU is not parked, so nobody else consumes.
func (q *Queue[T]) reclaim(i int, err error) {
	r := &q.rings[i]
	h := r.head.Load() // load: the last consumer's store
	from := h
	var vals []any
	for {
		c := q.cell(i, h)
		if c.seq.Load() != uint32(h+1) { // load: as the consumer's (Q4)
			break
		}
		vals = append(vals, c.v)
		var zero T
		c.v = zero
		h++
	}
	if h != from {
		q.handBack(i, from, h, vals, err)
	}
}

// closeRing is step Q6, for Close, after every worker released and the
// mailboxes are dead: it kills ring i, so that no sender reserves again,
// waits for the senders that reserved before to publish, and runs the
// values left (a RemoteSafe queue, as Close runs RemoteSafe work for a CPU
// nobody holds) or hands them back with ErrClosed.
func (q *Queue[T]) closeRing(i int) (panics []error) {
	r := &q.rings[i]
	t := r.tail.Load() // load: first guess for the CAS
	// CAS: dead, and the last reserved position, in one step; pairs with
	// the senders' reservation CAS, which refuses once it sees dead.
	for !r.tail.CompareAndSwap(t, t|ringDead) {
		t = r.tail.Load() // load: retry
	}
	h := r.head.Load() // load: the last consumer's store
	from := h
	cpu := q.d.slots[i].cpu
	var vals []any
	for ; h < t; h++ {
		c := q.cell(i, h)
		published := func() bool { return c.seq.Load() == uint32(h+1) } // load: pairs with the sender's store (Q2)
		if !atomicx.Await(published) {
			for !published() {
				runtime.Gosched() // a sender between its reservation and its publication: a few stores away
			}
		}
		v := c.v
		var zero T
		c.v = zero
		if !q.w.info.remoteSafe {
			vals = append(vals, v)
			continue
		}
		if p := q.runRecovered(cpu, v); p != nil {
			panics = append(panics, fmt.Errorf("ctdefer: Close: queue %q: value run on behalf of CPU %d: %w", q.w.String(), cpu, p))
		}
		r.head.Store(h + 1) // store: as the consumer's (Q4)
		from = h + 1
	}
	if h != from {
		q.handBack(i, from, h, vals, fmt.Errorf("ctdefer: CPU %d: queued while no worker held it: %w", cpu, ErrClosed))
	}
	return panics
}

// runRecovered runs handle for one value and returns its panic, if any.
func (q *Queue[T]) runRecovered(cpu int, v T) (p *ctseq.HandlerPanic) {
	defer func() {
		if r := recover(); r != nil {
			p = &ctseq.HandlerPanic{Bit: int(q.w.info.bit), Value: r, Stack: debug.Stack()}
		}
	}()
	q.handle(cpu, v)
	return nil
}

// handBack records positions [from, to) of ring i, holding vals, as handed
// back for err: in the ring's record (for SendWait) and in Close's report,
// then moves the head past them (which releases their waiters).
func (q *Queue[T]) handBack(i int, from, to uint64, vals []any, err error) {
	r := &q.rings[i]
	r.mu.Lock()
	if r.waiters.Load() == 0 { // load: pairs with SendWait's count before its mark
		clear(r.back)
		r.back = r.back[:0]
	}
	r.back = append(r.back, backRange{from, to, err})
	r.n.Add(1) // RMW: before the head store; pairs with SendWait's loads
	r.mu.Unlock()
	q.d.hand.addValues(&q.d.slots[i], q.w, vals, err)
	r.head.Store(to) // store: the positions are accounted for; pairs with SendWait's load and the senders' (Q1)
}

// handedBack is why position pos, whose completion the caller has seen,
// was handed back, or nil if it ran; mark is the count of hand-backs before
// its reservation.
func (r *ring) handedBack(pos, mark uint64) error {
	if r.n.Load() == mark { // load: pairs with the increment in handBack, before the head store the caller saw
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.back {
		if b.from <= pos && pos < b.to {
			return b.err
		}
	}
	return nil
}
