package grace_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// Synchronize, Wait and Barrier called by an online reader on its own
// thread take it offline for the wait and back online after
// (synchronize_rcu's rule), with and without Debug, and with a context that
// never ends.
// Mutants caught: qsbr-self-wait-not-offline, qsbr-self-wait-not-back-online,
// qsbr-barrier-self-wait.
func TestQSBRWaitByOnlineReader(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprintf("debug=%v", debug), func(t *testing.T) {
			f := newQFixture(t, 1, grace.Options{Debug: debug})
			err := f.onOwner(t, func(ctx context.Context, r *grace.Reader) error {
				for _, call := range []struct {
					name string
					fn   func() error
				}{
					{"Synchronize", func() error { return f.q.Synchronize(ctx) }},
					{"Wait", func() error { return f.q.Wait(ctx, f.q.Start()) }},
					{"Barrier", func() error {
						ran := false
						if err := f.q.Retire(func() { ran = true }); err != nil {
							return err
						}
						if err := f.q.Barrier(ctx); err != nil {
							return err
						}
						if !ran {
							return fmt.Errorf("Barrier returned before the retired function ran")
						}
						return nil
					}},
				} {
					if err := call.fn(); err != nil {
						return fmt.Errorf("%s by an online reader: %w", call.name, err)
					}
					if !r.IsOnline() {
						return fmt.Errorf("%s by an online reader left it offline", call.name)
					}
				}
				return nil
			})
			require.NoError(t, err)
		})
	}
}

// IsOnline follows Reader, Offline and Online (rcu_read_ongoing).
// Mutant caught: qsbr-online-stays-offline.
func TestQSBRReaderIsOnline(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	err := f.onOwner(t, func(_ context.Context, r *grace.Reader) error {
		var got []bool
		got = append(got, r.IsOnline())
		r.Offline()
		got = append(got, r.IsOnline())
		r.Online()
		got = append(got, r.IsOnline())
		if want := []bool{true, false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("IsOnline after Reader, Offline, Online: %v, want %v", got, want)
		}
		return nil
	})
	require.NoError(t, err)
}

// CompareAndSwap publishes only over the expected pointer
// (rcu_cmpxchg_pointer).
// Mutant caught: pointer-cas-ignores-old.
func TestPointerCompareAndSwap(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	a, b, c := new(int), new(int), new(int)
	p := grace.NewPointer(f.q, a)
	require.False(t, p.CompareAndSwap(b, c), "CompareAndSwap over a pointer that is not published")
	require.Same(t, a, p.Load(), "a failed CompareAndSwap published its new pointer")
	require.True(t, p.CompareAndSwap(a, c), "CompareAndSwap over the published pointer")
	require.Same(t, c, p.Load(), "CompareAndSwap did not publish")
}

// A waiter on the CPU where a reader that holds the grace period up
// registered sleeps as soon as only such readers hold it (they run only
// once the waiter stops); on another CPU it spins first, and while readers
// elsewhere hold it too, it polls for them before it sleeps.
// Mutants caught: qsbr-sharescpu-never, qsbr-laggards-here-only-ignored.
func TestQSBRWaiterSharesReaderCPU(t *testing.T) {
	if _, err := sysx.CurrentCPU(); err != nil {
		t.Skipf("getcpu is not available here: %v", err)
	}
	allowed, err := sysx.ProcessAffinity()
	require.NoError(t, err)
	n := min(2, len(allowed.List()))
	f := newQFixture(t, n, grace.Options{})
	check := func(cpu int) (here, only bool) {
		res := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with its pinned mask
			if err := sysx.SetThreadAffinity(sysx.CPUSetOf(cpu)); err != nil {
				res <- err
				return
			}
			here, only = f.q.LaggardsHere()
			res <- nil
		}()
		require.NoError(t, <-res, "pinning the waiter to CPU %d", cpu)
		return here, only
	}
	f.reader(f.cpus[0], qStuck)
	var rest *qreader
	if n > 1 {
		rest = f.reader(f.cpus[1], qStuck)
	}
	f.q.Start() // a grace period the stuck readers hold up
	if n > 1 {
		// Both readers stuck: from CPU 0, the reader elsewhere holds it too.
		here, only := check(f.cpus[0])
		require.True(t, here, "a waiter on CPU %d does not see its stuck reader", f.cpus[0])
		require.False(t, only, "a waiter on CPU %d would sleep while the reader of CPU %d, which runs, holds the grace period too",
			f.cpus[0], f.cpus[1])
		rest.set(t, qReporting) // now only CPU 0's reader holds it
		here, _ = check(f.cpus[1])
		require.False(t, here, "a waiter on CPU %d sees the reader of CPU %d as sharing its CPU", f.cpus[1], f.cpus[0])
	}
	here, only := check(f.cpus[0])
	require.True(t, here, "a waiter on the stuck reader's CPU %d does not see it", f.cpus[0])
	require.True(t, only, "a waiter on CPU %d: the stuck reader is the only one holding the grace period", f.cpus[0])
}

// The QSBR flavour allocates nothing on its read side (Pointer.Load,
// Quiescent's fast path and its report), nor in a wait, whether it ends at
// the first poll (reader offline) or goes through the slow path (the
// caller and CPU-sharing checks, the spin, the futex sleep).
// Mutants caught: none.
func TestQSBRAllocatesNothing(t *testing.T) {
	t.Run("read-side", func(t *testing.T) {
		f := newQFixture(t, 1, grace.Options{})
		p := grace.NewPointer(f.q, new(int))
		err := f.onOwner(t, func(_ context.Context, r *grace.Reader) error {
			allocs := testing.AllocsPerRun(100, func() {
				f.q.Start() // a grace period to report to: the report's slow path
				for range 64 {
					sink += *p.Load()
					r.Quiescent()
				}
			})
			if allocs != 0 {
				return fmt.Errorf("%v allocations per round of loads and reports", allocs)
			}
			return nil
		})
		require.NoError(t, err)
	})
	for _, tc := range []struct {
		name string
		mode int32
	}{{"synchronize-busy-reader", qReporting}, {"synchronize-offline-reader", qOffline}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newQFixture(t, 1, grace.Options{})
			f.reader(f.cpus[0], tc.mode)
			ctx := context.Background()
			require.NoError(t, f.q.Synchronize(ctx))
			allocs := testing.AllocsPerRun(50, func() {
				if err := f.q.Synchronize(ctx); err != nil {
					t.Fatal(err)
				}
			})
			require.Zero(t, allocs, "allocations per Synchronize")
		})
	}
}

// With Debug, a Reader method called on a thread other than the owner's
// (the reader handed to another goroutine) panics with a
// *ctdefer.MisuseError, reason "wrong thread", naming the method and both
// threads.
// Mutant caught: qsbr-checkowner-never.
func TestQSBRReaderWrongThread(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{Debug: true})
	err := f.onOwner(t, func(_ context.Context, r *grace.Reader) error {
		got := make(chan any, 1)
		go func() { // another goroutine: never the owner's thread, which the owner holds locked
			defer func() { got <- recover() }()
			r.Offline()
		}()
		v := <-got
		e, ok := v.(*ctdefer.MisuseError)
		if !ok {
			return fmt.Errorf("Offline on another thread: want a *ctdefer.MisuseError panic, got %T %v", v, v)
		}
		if e.Method != "grace.Reader.Offline" || e.Reason != "wrong thread" || e.CPU != f.cpus[0] {
			return fmt.Errorf("Offline on another thread: %+v", e)
		}
		return nil
	})
	require.NoError(t, err)
}

// SwapAndRetire on a Pointer made without a Domain is a misuse: it panics
// with a *ctdefer.MisuseError before publishing anything.
// Mutant caught: pointer-swapandretire-no-domain-unchecked.
func TestPointerSwapAndRetireWithoutDomain(t *testing.T) {
	old := new(int)
	p := grace.NewPointer[int](nil, old)
	v := recoverFrom(func() { _, _ = p.SwapAndRetire(new(int), func(*int) {}) })
	requireMisuseOf(t, v, "grace.Pointer.SwapAndRetire")
	require.Same(t, old, p.Load(), "nothing was published")
}
