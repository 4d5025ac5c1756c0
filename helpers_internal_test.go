package ctdefer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// The internal test package's helpers (package ctdefer); see the layout
// rules in helpers_test.go.

// mutInternalDomain is a one-CPU Domain, unpinned, with one work whose
// handler calls probe (on the owner, at the kernel entry or poll that runs
// it). The test goroutine plays the owner: it has claimed the CPU when this
// returns, and releases it at cleanup.
func mutInternalDomain(t *testing.T, probe func(s *slot)) (*Domain, *CPU, Work) {
	t.Helper()
	d, err := New(Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	s := &d.slots[0]
	w, err := d.Register("probe", func(int) { probe(s) })
	require.NoError(t, err)
	c, err := d.Claim(0)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d, c, w
}

// internalDomain is a Domain over CPUs 0 and 1, unpinned, whose waits never
// time out by themselves; cleanup closes it with a short deadline.
func internalDomain(t testing.TB) *Domain {
	t.Helper()
	d, err := New(Options{CPUs: []int{0, 1}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// handBackDomain is internalDomain with one work, for tests of the
// hand-back log that drive it directly (handback.go).
func handBackDomain(t testing.TB) (*Domain, *slot, Work) {
	t.Helper()
	d := internalDomain(t)
	w, err := d.Register("w", func(int) {})
	require.NoError(t, err)
	return d, &d.slots[0], w
}

// claimBack claims cpu on the calling goroutine once the runtime can tell
// that its previous owner's thread has ended (the Claim takes it back).
func claimBack(t *testing.T, d *Domain, cpu int) *CPU {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		c, err := d.Claim(cpu)
		if err == nil {
			return c
		}
		require.ErrorIs(t, err, ErrCPUBusy, "Claim(%d)", cpu)
		if time.Now().After(end) {
			t.Fatalf("CPU %d: the exited owner was not found within 10s", cpu)
		}
	}
}

const mutParkLimit = 10 * time.Second

// parkFixture is a one-CPU Domain whose owner goroutine parks in Idle until
// its context is cancelled or a wake-up ends the park; Idle's result (or its
// panic, as an error) arrives on idle, and the owner then releases.
type parkFixture struct {
	d      *Domain
	s      *slot
	cancel context.CancelFunc
	idle   chan error
	// borrowed is closed by the RemoteSafe work when it runs; the work
	// then blocks until release is closed.
	borrowed, release chan struct{}
	safe, plain       Work
	plainRuns         chan struct{} // one value per run of the plain work
}

func newParkFixture(t *testing.T) *parkFixture {
	t.Helper()
	d, err := New(Options{CPUs: []int{0}, Unpinned: true, IPITimeout: time.Hour})
	require.NoError(t, err)
	f := &parkFixture{
		d: d, s: &d.slots[0], idle: make(chan error, 1),
		borrowed: make(chan struct{}), release: make(chan struct{}), plainRuns: make(chan struct{}, 8),
	}
	f.safe, err = d.Register("safe", func(int) {
		close(f.borrowed)
		<-f.release
	}, RemoteSafe())
	require.NoError(t, err)
	f.plain, err = d.Register("plain", func(int) { f.plainRuns <- struct{}{} })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	claimed := make(chan error)
	go func() {
		c, err := d.Claim(0)
		claimed <- err
		if err != nil {
			return
		}
		f.idle <- func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("Idle panicked: %v", r)
				}
			}()
			return c.Idle(ctx)
		}()
		func() {
			defer func() { _ = recover() }() // after a mutant's panic the word may be off
			_ = c.Release()
		}()
	}()
	require.NoError(t, <-claimed)
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		cancel()
		ctx, cancelClose := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelClose()
		_ = d.Close(ctx)
	})
	f.waitFor(t, "the owner parks", func() bool {
		return f.s.word.Snapshot().State() == ctseq.Idle && f.s.park.Load() == parkParked
	})
	return f
}

// waitFor waits for a state the real code reaches by itself.
func (f *parkFixture) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(mutParkLimit); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v (park state %d)", what, mutParkLimit, f.s.park.Load())
		}
	}
}

// borrow delivers the RemoteSafe work on a new goroutine and returns once
// it runs on the parked CPU's behalf (blocked until f.release is closed);
// the delivery's result arrives on the returned channel.
func (f *parkFixture) borrow(t *testing.T) <-chan Delivery {
	t.Helper()
	how := make(chan Delivery, 1)
	go func() {
		h, err := f.d.Defer(0, f.safe)
		if err != nil {
			panic(err)
		}
		how <- h
	}()
	select {
	case <-f.borrowed:
	case <-time.After(mutParkLimit):
		t.Fatalf("the RemoteSafe work did not run within %v", mutParkLimit)
	}
	require.Equal(t, uint64(parkBorrowed), f.s.park.Load(), "setup: the sender borrowed the parked CPU")
	return how
}

func recvWithin[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mutParkLimit):
		t.Fatalf("%s: nothing after %v (a hang)", what, mutParkLimit)
	}
	panic("unreachable")
}
