package grace_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// An online reader that has not reported since the grace period began holds
// it up, whatever it reported before: Synchronize ends with a *StallError
// naming it, and completes once the reader reports.
// Mutant caught: qsbr-skip-user-mode.
func TestQSBRSynchronizeWaitsForOnlineReader(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	cpu := f.cpus[0]
	qr := f.reader(cpu, qReportOne) // reported before the grace period: does not count
	err := f.q.Synchronize(ctxFor(t, 30*time.Millisecond))
	require.ErrorAs(t, err, new(*grace.StallError), "Synchronize over a reader that does not report")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var se *grace.StallError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.CPUs, 1, "%v", err)
	require.Equal(t, cpu, se.CPUs[0].CPU)
	require.True(t, se.CPUs[0].Reader, "%v", err)
	require.Less(t, se.CPUs[0].LastReport, se.CPUs[0].GracePeriod, "%v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("CPU %d (QSBR reader online", cpu))
	t.Log(err)

	qr.set(t, qReporting)
	require.NoError(t, f.q.Synchronize(ctxFor(t, 10*time.Second)), "Synchronize with the reader reporting")
	st := f.q.Stats()
	require.Equal(t, st.Started, st.GracePeriods, "every grace period started has ended: %+v", st)
}

// Offline readers, parked CPUs and released CPUs are skipped: Synchronize
// needs nothing from their owners.
// Mutants caught: none.
func TestQSBRSkipsOfflineIdleAndReleased(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode int32
	}{
		{"offline", qOffline},
		{"idle", qIdle},
		{"released", qRelease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newQFixture(t, 1, grace.Options{})
			qr := f.reader(f.cpus[0], qStuck)
			require.ErrorAs(t, f.q.Synchronize(ctxFor(t, 10*time.Millisecond)), new(*grace.StallError), "stuck online reader")
			qr.set(t, tc.mode)
			for range 3 {
				require.NoError(t, f.q.Synchronize(ctxFor(t, 10*time.Second)), "Synchronize over a %s reader", tc.name)
			}
			if tc.mode == qRelease {
				return
			}
			qr.set(t, qStuck) // online again: waited for again
			require.ErrorAs(t, f.q.Synchronize(ctxFor(t, 10*time.Millisecond)), new(*grace.StallError), "online again")
		})
	}
}

// A sleeping waiter is woken by the reader's report, by its Offline, and
// by the core when the reader's CPU parks or is released with the reader
// online, not by the cap on its sleep: with the cap set to an hour, a
// missing wake-up would hold Synchronize until its context ends.
// Mutants caught: qsbr-idle-no-wake, qsbr-release-no-wake, qsbr-unwatched.
func TestQSBRReaderWakesSleepingWaiter(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode int32
	}{
		{"report", qReportOne},
		{"offline", qOffline},
		{"online", qReporting}, // from Offline: going online reports too
		{"idle", qIdle},        // parks without a report
		{"release", qRelease},  // released without Offline (a misuse, logged)
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer grace.SetQSBRMaxSleep(time.Hour)()
			f := newQFixture(t, 1, grace.Options{SpinWait: -1})
			qr := f.reader(f.cpus[0], qStuck)
			done := make(chan error, 1)
			go func() { done <- f.q.Synchronize(context.Background()) }()
			require.Eventually(t, func() bool { return f.q.Stats().Sleeps > 0 }, 10*time.Second, 10*time.Microsecond,
				"the waiter never slept")
			before := f.q.Stats().Wakeups
			qr.request(tc.mode) // one report, or Offline
			select {
			case err := <-done:
				require.NoError(t, err, "Synchronize after the reader's %s", tc.name)
			case <-time.After(20 * time.Second):
				t.Fatalf("Synchronize still asleep 20 s after the reader's %s: a lost wake-up", tc.name)
			}
			require.Greater(t, f.q.Stats().Wakeups, before, "woken by the reader")
			if tc.mode != qRelease {
				qr.set(t, qStuck)
			}
		})
	}
}

// Retire runs after a grace period; Barrier waits for it; Close drains.
// Mutants caught: none.
func TestQSBRRetireBarrierClose(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	qr := f.reader(f.cpus[0], qStuck)
	var ran atomic.Int32
	for range 3 {
		require.NoError(t, f.q.Retire(func() { ran.Add(1) }), "Retire")
	}
	require.ErrorAs(t, f.q.Barrier(ctxFor(t, 20*time.Millisecond)), new(*grace.StallError), "Barrier over a stuck reader")
	require.Zero(t, ran.Load(), "retired functions ran while the reader holds references")
	qr.set(t, qReporting)
	require.NoError(t, f.q.Barrier(ctxFor(t, 10*time.Second)), "Barrier")
	require.EqualValues(t, 3, ran.Load())
	require.NoError(t, f.q.Retire(func() { ran.Add(1) }), "Retire")
	require.NoError(t, f.q.Close(ctxFor(t, 10*time.Second)), "Close runs what is pending")
	require.EqualValues(t, 4, ran.Load())
	require.ErrorIs(t, f.q.Retire(func() {}), ctdefer.ErrClosed, "Retire after Close")
	require.ErrorIs(t, f.q.Close(ctxFor(t, time.Second)), ctdefer.ErrClosed, "second Close")
	require.NoError(t, f.q.Synchronize(ctxFor(t, 10*time.Second)), "Synchronize keeps working after Close")
}

// The use the flavour exists for: a reader in a user-mode hot loop, a
// controller that swaps the table and poisons the old one once it is
// retired. No read sees a poisoned table.
// Mutants caught: none.
func TestQSBRHotLoopReadsNeverPoisoned(t *testing.T) {
	f := newQFixture(t, 1, grace.Options{})
	type table struct {
		poisoned atomic.Bool
		n        int
	}
	p := grace.NewPointer(f.q, &table{n: 0})
	var reads, poisoned atomic.Int64
	stop := make(chan struct{})
	claimed := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		c, err := f.d.Claim(f.cpus[0])
		claimed <- err
		if err != nil {
			return
		}
		defer func() { _ = c.Release() }()
		r := f.q.Reader(c)
		defer r.Offline()
		c.UserEnter()
		defer c.KernelEnter()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 64 {
				tb := p.Load()
				for range 8 { // hold the reference across several checks
					if tb.poisoned.Load() {
						poisoned.Add(1)
					}
				}
				reads.Add(1)
			}
			r.Quiescent()
		}
	}()
	require.NoError(t, <-claimed)
	const swaps = 2000
	for i := 1; i <= swaps; i++ {
		old, err := p.SwapAndRetire(&table{n: i}, func(old *table) { old.poisoned.Store(true) })
		require.NoError(t, err, "SwapAndRetire")
		require.Nil(t, old, "SwapAndRetire hands back nothing when it retired")
		if i%100 == 0 {
			require.NoError(t, f.q.Barrier(ctxFor(t, 10*time.Second)), "Barrier")
		}
	}
	require.NoError(t, f.q.Barrier(ctxFor(t, 10*time.Second)), "Barrier")
	close(stop)
	st := f.q.Stats()
	t.Logf("%d swaps, %d reads, %+v", swaps, reads.Load(), st)
	require.Zero(t, poisoned.Load(), "reads of a reclaimed table")
	require.EqualValues(t, swaps, st.Reclaimed, "every old table reclaimed")
}

// Debug: a Pointer.Load outside the flavour's read-side sections panics in
// a build that compiles the check (go test -race, -tags ctdefer_debug), and
// is the bare load in any other build; Quiescent on an offline reader
// panics in every build.
// Whatever the build, Debug changes no value: Load returns what Store,
// Swap and CompareAndSwap published.
// Mutants caught: qsbr-debug-offline-seen-kept, pointer-debug-plain-nil.
func TestPointerDebugChecks(t *testing.T) {
	t.Run("values", func(t *testing.T) {
		f := newQFixture(t, 1, grace.Options{Debug: true})
		g := newFixture(t, 1, grace.Options{NudgeAfter: -1, Debug: true})
		for name, fl := range map[string]*grace.Domain{"qsbr": f.q, "kernel": g.g} {
			a, b, c := new(int), new(int), new(int)
			p := grace.NewPointer(fl, a)
			require.Same(t, a, p.Load(), "%s: Load after NewPointer", name)
			p.Store(b)
			require.Same(t, b, p.Load(), "%s: Load after Store", name)
			require.Same(t, b, p.Swap(c), "%s: Swap", name)
			require.Same(t, c, p.Load(), "%s: Load after Swap", name)
			require.True(t, p.CompareAndSwap(c, a), "%s: CompareAndSwap", name)
			require.Same(t, a, p.Load(), "%s: Load after CompareAndSwap", name)
		}
	})
	t.Run("qsbr-offline", func(t *testing.T) {
		f := newQFixture(t, 1, grace.Options{Debug: true})
		p := grace.NewPointer(f.q, new(int))
		v := f.panicOnOwner(t, func(r *grace.Reader) {
			_ = p.Load() // online: fine
			r.Offline()
			_ = p.Load()
		})
		if !grace.CheckLoads {
			require.Nil(t, v, "a plain build compiles Load's check away")
			return
		}
		require.NotNil(t, v, "Load by an offline reader did not panic")
		requireMisuseOf(t, v, "grace.Pointer.Load")
		require.Contains(t, fmt.Sprint(v), "reads QSBR-protected data while its reader is offline")
		require.NotPanics(t, func() { _ = p.Load() }, "a load by a goroutine that owns no CPU is an updater's")
	})
	t.Run("qsbr-quiescent-offline", func(t *testing.T) {
		// No grace period runs between Offline and Quiescent: the check
		// must not depend on one having started (mutant
		// qsbr-debug-offline-seen-kept).
		f := newQFixture(t, 1, grace.Options{Debug: true})
		started := grace.QSBRStarted(f.q)
		v := f.panicOnOwner(t, func(r *grace.Reader) {
			r.Quiescent() // online: fine
			r.Offline()
			r.Quiescent()
		})
		require.Equal(t, started, grace.QSBRStarted(f.q), "no grace period started meanwhile")
		require.NotNil(t, v, "Quiescent by an offline reader did not panic")
		requireMisuseOf(t, v, "grace.Reader.Quiescent")
		require.Contains(t, fmt.Sprint(v), "is offline")
	})
	t.Run("kernel-flavour-in-user-mode", func(t *testing.T) {
		f := newFixture(t, 1, grace.Options{NudgeAfter: -1, Debug: true})
		p := grace.NewPointer(f.g, new(int))
		got := make(chan any, 1)
		f.owner(f.cpus[0], func(c *ctdefer.CPU) {
			_ = p.Load() // in the kernel: fine
			c.UserEnter()
			defer c.KernelEnter()
			defer func() { got <- recover() }()
			_ = p.Load()
		})
		v := <-got
		if !grace.CheckLoads {
			require.Nil(t, v, "a plain build compiles Load's check away")
			return
		}
		require.NotNil(t, v, "a user-mode load of kernel-flavour data did not panic")
		requireMisuseOf(t, v, "grace.Pointer.Load")
		require.Contains(t, fmt.Sprint(v), "needs the QSBR flavour")
	})
}

// Bad input.
// Mutants caught: none.
func TestQSBRArguments(t *testing.T) {
	_, err := grace.NewQSBR(nil, grace.Options{})
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	f := newQFixture(t, 1, grace.Options{})
	var nilCtx context.Context
	require.ErrorIs(t, f.q.Synchronize(nilCtx), ctdefer.ErrInvalid)
	require.ErrorIs(t, f.q.Barrier(nilCtx), ctdefer.ErrInvalid)
	require.ErrorIs(t, f.q.Retire(nil), ctdefer.ErrInvalid)
	requireMisuse(t, recoverFrom(func() { f.q.Reader(nil) }), "Reader", "nil CPU")
	p := grace.NewPointer(f.q, new(int))
	_, err = p.SwapAndRetire(new(int), nil)
	require.ErrorIs(t, err, ctdefer.ErrInvalid)
	require.NoError(t, f.q.Close(ctxFor(t, 5*time.Second)))
	first := p.Load()
	old, err := p.SwapAndRetire(new(int), func(*int) { t.Error("freed after a failed Retire") })
	require.ErrorIs(t, err, ctdefer.ErrClosed, "SwapAndRetire after Close")
	require.Same(t, first, old, "the old pointer is handed back to the caller")
}
