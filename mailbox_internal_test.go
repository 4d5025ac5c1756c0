//go:build ctdefer_explore

package ctdefer

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
	"github.com/ctdefer/ctdefer/internal/atomicx"
)

// Fault injection at one chosen atomic step of the mailbox and park
// protocols (each test names the catalogue mutants it catches). Under the
// ctdefer_explore tag every atomicx operation first calls atomicx.Yield,
// the explorer's hook; these tests install a hook of their own that, on the
// goroutine about to make a chosen operation on a chosen word, first runs
// another party's whole step (a post, a wake-up). That is one schedule of
// the explorer's, chosen by hand: the racing step lands inside the window a
// mutant opens, every time, whatever the Go scheduler does, because it runs
// on the very goroutine that is inside the window. The explorer proper
// (internal/explore) tries every schedule; these pin the one that matters.
//
// Run with: go test -tags ctdefer_explore -run TestInject .

// injectAt installs a Yield hook for the rest of the test: before the first
// operation for which at reports true, it runs step once, on the goroutine
// making the operation. Operations made by step itself pass through. It
// returns a function that reports whether step has run.
func injectAt(t *testing.T, at func(op atomicx.Op, w atomicx.Word) bool, step func()) (fired func() bool) {
	t.Helper()
	var state atomic.Int32 // 0 armed, 1 firing, 2 done
	old := atomicx.Yield
	atomicx.Yield = func(op atomicx.Op, w atomicx.Word) {
		if state.Load() == 0 && at(op, w) && state.CompareAndSwap(0, 1) {
			step()
			state.Store(2)
		}
	}
	t.Cleanup(func() { atomicx.Yield = old })
	return func() bool { return state.Load() == 2 }
}

// goroutineID is the calling goroutine's id, from its stack trace's first
// line ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	var id uint64
	for _, c := range bytes.TrimPrefix(b, []byte("goroutine ")) {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// injectDomain is a one-CPU Domain, unpinned, with a plain work that counts
// its runs.
func injectDomain(t *testing.T) (*Domain, *slot, Work, *atomic.Int32) {
	t.Helper()
	d, err := New(Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	runs := new(atomic.Int32)
	w, err := d.Register("w", func(int) { runs.Add(1) })
	require.NoError(t, err)
	return d, &d.slots[0], w, runs
}

// A parked owner whose mailbox check has just found nothing, and which has
// not yet slept, loses no wake-up: a sender's post and wake-up land right
// after the check (before the owner's next atomic operation, whatever it
// is), and the owner must still wake and run the IPI. It read the futex
// value before the check, so the sleep returns at once. Every word on the
// owner's path from the check to its sleep must be an atomicx word (the
// injection point is the first operation after the check). Mutants
// futex-read-after-check and futex-read-between-checks: with the futex
// value read anywhere after the mailbox check, the owner sleeps for good.
// Mutant caught: futex-read-after-check.
func TestInjectWakeUpAfterParkCheck(t *testing.T) {
	d, s, w, runs := injectDomain(t)
	// The owner's goroutine, from the only store to park (parkUntil's first
	// step); then its mailbox check, the park loop's first load of the
	// mailbox; then its next operation, on any word, is the injection point.
	var owner atomic.Uint64
	var checked atomic.Bool
	fired := injectAt(t, func(op atomicx.Op, word atomicx.Word) bool {
		switch {
		case owner.Load() == 0:
			if op == atomicx.OpStore && word == atomicx.Word(&s.park) {
				owner.Store(goroutineID())
			}
		case goroutineID() != owner.Load():
		case !checked.Load():
			checked.Store(op == atomicx.OpLoad && word == atomicx.Word(&s.mbox.v))
		default:
			return true
		}
		return false
	}, func() {
		// A sender: the word is Idle, so Defer posts an IPI and, seeing
		// the CPU parked, wakes it.
		if how, err := d.Defer(0, w); err != nil || how != IPI {
			panic("setup: the delivery to the parked CPU must be an IPI")
		}
	})
	claimed, idle := make(chan error), make(chan error, 1)
	go func() {
		c, err := d.Claim(0)
		claimed <- err
		if err != nil {
			return
		}
		idle <- c.Idle(context.Background()) // no deadline: only a wake-up ends it
		_ = c.Release()
	}()
	require.NoError(t, <-claimed)
	select {
	case err := <-idle:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("the parked owner slept through the wake-up of an IPI posted after its mailbox check (injected: %v)", fired())
	}
	require.True(t, fired(), "setup: the IPI was injected after the check")
	require.Equal(t, int32(1), runs.Load(), "the IPI ran once")
}

// Close's kill of a mailbox is one atomic step: a post that lands between
// its load and its write (a sender that checked for Close before Close
// began) makes the kill retry, and the posted work is handed back. Mutant
// kill-load-store: the kill's store wipes the post, which is then neither
// run nor handed back, although the sender was told it was posted.
// Mutant caught: kill-load-store.
func TestInjectPostIntoKill(t *testing.T) {
	d, s, w, runs := injectDomain(t)
	var posted bool
	fired := injectAt(t, func(op atomicx.Op, word atomicx.Word) bool {
		// Nobody claims CPU 0: Close's kill is the only writer of its
		// mailbox, and the first write is the kill's.
		return word == atomicx.Word(&s.mbox.v) && op.IsWrite()
	}, func() {
		_, posted = s.mbox.post(ctseq.Of(int(w.info.bit)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.Close(ctx)
	require.True(t, fired(), "setup: the post was injected into the kill")
	require.True(t, posted, "setup: the post came before the kill and was accepted")
	require.Zero(t, runs.Load(), "plain work never runs on behalf of a released CPU")
	var ue *UndeliveredError
	require.True(t, errors.As(err, &ue), "Close returned %v: the accepted post was neither run nor handed back", err)
	require.Len(t, ue.Pending, 1)
	require.Equal(t, "w", ue.Pending[0].Work.String())
}

// A post is one atomic step too: another sender's post that lands between
// its load and its write is kept, and both works run. Mutant
// post-load-store: the second write overwrites the first post.
// Mutant caught: post-load-store.
func TestInjectPostIntoPost(t *testing.T) {
	d, s, w, runs := injectDomain(t)
	other := new(atomic.Int32)
	w2, err := d.Register("w2", func(int) { other.Add(1) })
	require.NoError(t, err)
	c, err := d.Claim(0) // this goroutine is the owner: in the kernel, so deliveries are IPIs
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Release()) }()
	fired := injectAt(t, func(op atomicx.Op, word atomicx.Word) bool {
		return word == atomicx.Word(&s.mbox.v) && op.IsWrite() // the first post's write
	}, func() {
		if how, err := d.Defer(0, w2); err != nil || how != IPI {
			panic("setup: the second delivery must be an IPI")
		}
	})
	how, err := d.Defer(0, w)
	require.NoError(t, err)
	require.Equal(t, IPI, how)
	require.True(t, fired(), "setup: the second post was injected into the first")
	require.True(t, c.Poll(), "Poll runs the IPIs")
	require.Equal(t, int32(1), runs.Load(), "the first post's work ran once")
	require.Equal(t, int32(1), other.Load(), "the second post's work ran once")
}
