package grace_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// The memb flavour: one test per guarantee, each in both read-side modes
// (membarrier's plain stores, and the fenced fallback), through the public
// API. Waits get generous contexts (faultLimit); an assertion that a wait
// has not returned looks at it once, after a pause: a late wait passes,
// only an early one fails.

// A grace period waits for a section that began before it, and ends once
// that section has ended; a reader outside any section is not waited for.
// Mutants caught: memb-scan-skips-readers, memb-lock-no-store,
// memb-holds-equal-snapshot, memb-unlock-no-store.
func TestMembSynchronizeWaitsForSection(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		idle, err := g.Register() // registered, never locks: not waited for
		require.NoError(t, err)
		defer idle.Unregister()
		h, err := g.Register()
		require.NoError(t, err)
		r := newMembReader(t, h)
		r.do(h.Lock)
		done := result(func() error { return g.Synchronize(ctxFor(t, faultLimit)) })
		notYet(t, "Synchronize", done)
		r.do(h.Unlock)
		require.NoError(t, recv(t, "Synchronize", done), "Synchronize after the section ended")
		r.do(h.Unregister)
	})
}

// A section that began after a grace period started does not hold it up:
// the grace period ends while that reader is still inside (liburcu's
// "readers that began after do not delay it").
// Mutant caught: memb-holds-every-section.
func TestMembLaterSectionNotWaited(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h1, err := g.Register()
		require.NoError(t, err)
		h2, err := g.Register()
		require.NoError(t, err)
		r1, r2 := newMembReader(t, h1), newMembReader(t, h2)
		r1.do(h1.Lock)
		tok := g.Start() // begins the grace period, which h1 holds
		require.False(t, g.Completed(tok), "a grace period over a reader in its section completed at Start")
		require.Equal(t, grace.MembStarted(g), grace.MembCompleted(g)+1, "Start began the grace period")
		r2.do(h2.Lock) // after the start: not waited for
		r1.do(h1.Unlock)
		require.NoError(t, g.Wait(ctxFor(t, faultLimit), tok), "Wait with only a later section left")
		r2.do(h2.Unlock)
		r1.do(h1.Unregister)
		r2.do(h2.Unregister)
	})
}

// Sections nest: only the outermost Unlock ends the section. Mutants
// caught: memb-nested-unlock-ends, memb-nested-lock-uncounted.
// Mutants caught: memb-nested-unlock-ends, memb-nested-lock-uncounted.
func TestMembNestedSections(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		r := newMembReader(t, h)
		r.do(func() { h.Lock(); h.Lock(); h.Lock() })
		done := result(func() error { return g.Synchronize(ctxFor(t, faultLimit)) })
		r.do(h.Unlock)
		notYet(t, "Synchronize after the innermost Unlock", done)
		r.do(h.Unlock)
		notYet(t, "Synchronize after the middle Unlock", done)
		r.do(h.Unlock)
		require.NoError(t, recv(t, "Synchronize", done))
		// And the Handle is reusable: a new outermost section is held.
		r.do(h.Lock)
		done = result(func() error { return g.Synchronize(ctxFor(t, faultLimit)) })
		notYet(t, "Synchronize after a new Lock", done)
		r.do(h.Unlock)
		require.NoError(t, recv(t, "Synchronize", done))
		r.do(h.Unregister)
	})
}

// A reader that moves between goroutines (and threads) between sections,
// and a section that blocks, are both covered.
// Mutants caught: none.
func TestMembSectionAcrossBlocking(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		h.Lock()
		unblock := make(chan struct{})
		released := make(chan struct{})
		go func() {
			<-unblock // the section blocks here, and resumes on another goroutine's thread
			runtime.Gosched()
			h.Unlock()
			close(released)
		}()
		done := result(func() error { return g.Synchronize(ctxFor(t, faultLimit)) })
		notYet(t, "Synchronize", done)
		close(unblock)
		<-released
		require.NoError(t, recv(t, "Synchronize", done))
		h.Unregister()
	})
}

// Retire runs a callback only after the sections that began before it;
// SwapAndRetire the same through a Pointer; Barrier waits for it.
// Mutants caught: none.
func TestMembRetireWaitsForSection(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		r := newMembReader(t, h)
		p := grace.NewPointer(g, new(int))
		var seen *int
		r.do(func() { h.Lock(); seen = p.Load() })
		var freed atomic.Bool
		old, err := p.SwapAndRetire(new(int), func(o *int) {
			require.Same(t, seen, o)
			freed.Store(true)
		})
		require.NoError(t, err)
		require.Nil(t, old)
		barrier := result(func() error { return g.Barrier(ctxFor(t, faultLimit)) })
		notYet(t, "Barrier", barrier)
		require.False(t, freed.Load(), "the object was freed while a reader held it")
		r.do(h.Unlock)
		require.NoError(t, recv(t, "Barrier", barrier))
		require.True(t, freed.Load(), "Barrier returned before the callback ran")
		r.do(h.Unregister)
	})
}

// Register and Unregister run at any time, concurrently with grace
// periods, and a registration made while a grace period waits does not
// hold it up.
// Mutants caught: none.
func TestMembRegisterDuringGracePeriod(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		r := newMembReader(t, h)
		r.do(h.Lock)
		done := result(func() error { return g.Synchronize(ctxFor(t, faultLimit)) })
		require.Eventually(t, func() bool { return grace.MembStarted(g) > grace.MembCompleted(g) }, faultLimit, 50*time.Microsecond)
		late, err := g.Register()
		require.NoError(t, err)
		late.Lock() // after the start: not waited for
		r.do(h.Unlock)
		require.NoError(t, recv(t, "Synchronize", done), "a registration during the grace period held it up")
		late.Unlock()
		late.Unregister()
		// A hammer: registrations, sections and grace periods at once.
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					x, err := g.Register()
					if err != nil {
						t.Error(err)
						return
					}
					x.Lock()
					//lint:ignore SA2001 an empty section is enough: the test is about the section, not its reads
					x.Unlock()
					x.Unregister()
				}
			}()
		}
		for range 200 {
			require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)))
		}
		close(stop)
		wg.Wait()
		require.EqualValues(t, 1, g.Stats().Readers, "only h is left registered")
		r.do(h.Unregister)
		require.EqualValues(t, 0, g.Stats().Readers)
	})
}

// Misuse of a Handle panics with a *ctdefer.MisuseError naming grace and
// the method: Unlock without Lock, any use after Unregister, Unregister
// inside a section.
// Mutants caught: memb-unlock-unheld-unchecked, memb-lock-dead-unchecked, memb-unregister-in-section.
func TestMembHandleMisuse(t *testing.T) {
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		requireMisuseOf(t, recoverFrom(h.Unlock), "grace.Handle.Unlock")
		h.Lock()
		requireMisuseOf(t, recoverFrom(h.Unregister), "grace.Handle.Unregister")
		h.Unlock()
		require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)), "the Handle is outside its section")
		h.Unregister()
		requireMisuseOf(t, recoverFrom(h.Lock), "grace.Handle.Lock")
		requireMisuseOf(t, recoverFrom(h.Unlock), "grace.Handle.Unlock")
		requireMisuseOf(t, recoverFrom(h.Unregister), "grace.Handle.Unregister")
		require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)), "a refused Lock holds nothing")
	})
}

// A wait inside the caller's own section: with Debug, in the builds that
// check (go test -race, -tags ctdefer_debug), Synchronize, Wait and Barrier
// refuse at once with ctdefer.ErrWouldDeadlock; in any build, the wait is
// never silent: its stall warning names the reader, and its context ends
// it with a *StallError naming the Handle's registration site. Mutants
// caught: memb-selfwait-unchecked, memb-debug-owner-not-recorded (with
// -tags ctdefer_debug), memb-stall-warn-never.
// Mutants caught: memb-selfwait-unchecked, memb-debug-owner-not-recorded, memb-stall-warn-never.
func TestMembWaitInsideOwnSection(t *testing.T) {
	defer grace.SetMembStallWarn(5 * time.Millisecond)()
	forEachMembMode(t, grace.Options{Debug: true}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		h.Lock()
		if grace.CheckLoads {
			for name, wait := range map[string]func() error{
				"Synchronize": func() error { return g.Synchronize(ctxFor(t, faultLimit)) },
				"Wait":        func() error { return g.Wait(ctxFor(t, faultLimit), g.Start()) },
				"Barrier": func() error {
					require.NoError(t, g.Retire(func() {}))
					return g.Barrier(ctxFor(t, faultLimit))
				},
			} {
				err := wait()
				require.ErrorIs(t, err, ctdefer.ErrWouldDeadlock, "%s inside the caller's section", name)
				require.ErrorContains(t, err, "memb_test.go", "%s: the error names the Handle's registration site", name)
			}
		}
		h.Unlock()
		h.Unregister()
	})
	// Without Debug (or in a plain build): a Warn, then a *StallError.
	rec := &records{}
	forEachMembMode(t, grace.Options{Logger: slog.New(rec)}, func(t *testing.T, g *grace.Domain) {
		h, err := g.Register()
		require.NoError(t, err)
		h.Lock()
		err = g.Synchronize(ctxFor(t, 100*time.Millisecond))
		h.Unlock()
		require.ErrorAs(t, err, new(*grace.StallError))
		require.ErrorContains(t, err, "memb reader registered at ")
		require.ErrorContains(t, err, "memb_test.go", "the error names the Handle's registration site")
		require.Contains(t, rec.find("still waiting for readers"), "WARN", "no stall warning: %v", rec.logs)
		require.Contains(t, rec.find("still waiting for readers"), "memb_test.go", "the warning names the site")
		h.Unregister()
	})
}

// A lost reader: a Handle dropped outside a section is unregistered by
// the garbage collector and logged (Warn); one dropped inside a section
// keeps holding grace periods up (what it loaded may still be in use), is
// logged (Error) and named in the StallError, never silently. Mutants
// caught: memb-lost-no-cleanup, memb-dropped-in-section-freed.
// Mutants caught: memb-lost-no-cleanup, memb-dropped-in-section-freed.
func TestMembLostHandle(t *testing.T) {
	t.Run("outside", func(t *testing.T) {
		rec := &records{}
		g := grace.NewMembFenced(grace.Options{Logger: slog.New(rec)})
		registerAndDrop(t, g, false)
		require.EqualValues(t, 1, g.Stats().Readers)
		require.Eventually(t, func() bool { runtime.GC(); return g.Stats().Readers == 0 }, faultLimit, time.Millisecond,
			"a dropped Handle is unregistered")
		require.Contains(t, rec.find("dropped without Unregister"), "WARN")
		require.Contains(t, rec.find("dropped without Unregister"), "helpers_test.go")
		require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)))
	})
	t.Run("inside", func(t *testing.T) {
		rec := &records{}
		g := grace.NewMembFenced(grace.Options{Logger: slog.New(rec)})
		registerAndDrop(t, g, true)
		require.Eventually(t, func() bool { runtime.GC(); return rec.find("dropped inside a read-side section") != "" },
			faultLimit, time.Millisecond, "a Handle dropped in its section is reported")
		require.Contains(t, rec.find("dropped inside a read-side section"), "ERROR")
		require.EqualValues(t, 1, g.Stats().Readers, "the dropped reader stays registered")
		err := g.Synchronize(ctxFor(t, 50*time.Millisecond))
		require.ErrorAs(t, err, new(*grace.StallError), "a grace period must keep waiting for a reader dropped in its section")
		require.ErrorContains(t, err, "dropped inside the section")
		require.ErrorContains(t, err, "helpers_test.go")
	})
}

// Stats says which read side is in use; the fenced fallback never calls
// membarrier.
// Mutants caught: none.
func TestMembStatsMode(t *testing.T) {
	g := grace.NewMembFenced(grace.Options{})
	h, err := g.Register()
	require.NoError(t, err)
	require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)))
	st := g.Stats()
	require.False(t, st.Membarrier, "NewMembFenced")
	require.Zero(t, st.Membarriers)
	require.EqualValues(t, 1, st.GracePeriods)
	require.EqualValues(t, 1, st.Readers)
	h.Unregister()
	g2, err := grace.NewMemb(grace.Options{})
	require.NoError(t, err)
	require.NoError(t, g2.Synchronize(ctxFor(t, faultLimit)))
	if st := g2.Stats(); st.Membarrier {
		require.EqualValues(t, 2, st.Membarriers, "a grace period makes two membarrier calls")
	} else {
		t.Logf("membarrier unavailable here: the fenced read side is in use")
	}
}

// Bad input and flavour misuse: NudgeAfter is refused; Register belongs to
// the memb flavour, Reader and Checkpoint to the others; Register after
// Close fails with ctdefer.ErrClosed.
// Mutant caught: memb-register-after-close.
func TestMembArguments(t *testing.T) {
	_, err := grace.NewMemb(grace.Options{NudgeAfter: time.Millisecond})
	var ae *ctdefer.ArgError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "grace.NewMemb", ae.Call)
	require.Equal(t, "opts.NudgeAfter", ae.Arg)
	g, err := grace.NewMemb(grace.Options{})
	require.NoError(t, err)
	requireMisuse(t, recoverFrom(func() { g.Reader(nil) }), "Reader", "wrong flavour")
	requireMisuse(t, recoverFrom(func() { g.Checkpoint(nil) }), "Checkpoint", "wrong flavour")
	requireMisuse(t, recoverFrom(func() { _ = g.ExpeditedBarrier(context.Background()) }), "ExpeditedBarrier", "wrong flavour")
	q := newQFixture(t, 1, grace.Options{})
	e := requireMisuse(t, recoverFrom(func() { _, _ = q.q.Register() }), "Register", "wrong flavour")
	require.Contains(t, e.Detail, "memb flavour")
	var nilCtx context.Context
	require.ErrorIs(t, g.Synchronize(nilCtx), ctdefer.ErrInvalid)
	require.NoError(t, g.Close(ctxFor(t, faultLimit)))
	_, err = g.Register()
	require.ErrorIs(t, err, ctdefer.ErrClosed)
	require.NoError(t, g.Synchronize(ctxFor(t, faultLimit)), "grace periods work after Close")
}

// Lock and Unlock, nested or not, and a Synchronize over 64 registered
// readers outside their sections, allocate nothing.
// Mutants caught: none.
func TestMembAllocatesNothing(t *testing.T) {
	if grace.Instrumented {
		t.Skip("the explorer's instrumented atomics allocate")
	}
	forEachMembMode(t, grace.Options{}, func(t *testing.T, g *grace.Domain) {
		hs := make([]*grace.Handle, 64)
		for i := range hs {
			h, err := g.Register()
			require.NoError(t, err)
			hs[i] = h
		}
		h := hs[0]
		//lint:ignore SA2001 an empty section is enough: the test is about the section, not its reads
		require.Zero(t, testing.AllocsPerRun(1000, func() { h.Lock(); h.Unlock() }), "Lock+Unlock")
		//lint:ignore SA2001 an empty section is enough: the test is about the section, not its reads
		require.Zero(t, testing.AllocsPerRun(1000, func() { h.Lock(); h.Lock(); h.Unlock(); h.Unlock() }), "nested")
		ctx := context.Background()
		require.Zero(t, testing.AllocsPerRun(100, func() {
			if err := g.Synchronize(ctx); err != nil {
				panic(err)
			}
		}), "Synchronize with 64 readers outside their sections")
		require.Zero(t, testing.AllocsPerRun(100, func() { g.Poll(g.Start()) }), "Start and Poll")
		for _, h := range hs {
			h.Unregister()
		}
	})
}

// The StallError's text for a memb reader names its site, and whether its
// Handle was dropped.
// Mutants caught: none.
func TestMembStallErrorText(t *testing.T) {
	e := &grace.StallError{Op: "Synchronize", Waited: time.Second, Err: context.DeadlineExceeded,
		CPUs: []grace.StalledCPU{{CPU: -1, Reader: true, Site: "x.go:12", LastReport: 3, GracePeriod: 4}}}
	require.Equal(t, "grace: Synchronize: still waiting after 1s for memb reader registered at x.go:12 "+
		"(inside a read-side section since grace period 3, waiting for 4: the goroutine holding its Handle has not called Unlock): "+
		"context deadline exceeded", e.Error())
	e.CPUs[0].Dropped = true
	require.Contains(t, e.Error(), "its Handle was dropped inside the section")
	_ = fmt.Sprint(e)
}
