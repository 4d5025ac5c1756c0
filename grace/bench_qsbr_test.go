package grace_test

import (
	"context"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// The QSBR flavour's shapes, named as liburcu's side in bench/liburcu
// (-tags liburcu -bench Liburcu) for a side-by-side run:
//
//	QSBRReport                      Reader.Quiescent with no grace period waiting (rcu_quiescent_state)
//	QSBRSynchronize/busy-reader     a reader on another CPU reporting in a tight loop (synchronize_rcu)
//	QSBRSynchronize/offline-reader  the reader offline (rcu_thread_offline)
//
// QSBRSynchronize reports the median and the 99th percentile of individual
// calls (one in eight is timed) beside the mean (ns/op). QSBRReportFloor
// and QSBRSynchronizeFloor are the hardware's part of each shape.
func BenchmarkQSBRReport(b *testing.B) {
	f := newQFixture(b, 1, grace.Options{})
	c, err := f.d.Claim(f.cpus[0])
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Release() }()
	r := f.q.Reader(c)
	defer r.Offline()
	c.UserEnter()
	defer c.KernelEnter()
	b.ReportAllocs()
	b.ResetTimer()
	// A plain loop, as liburcu's side runs rcu_quiescent_state in a C loop:
	// b.Loop's own per-iteration cost would be most of what is measured.
	for range b.N {
		r.Quiescent()
	}
}

func BenchmarkQSBRSynchronize(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode int32
	}{{"busy-reader", qReporting}, {"offline-reader", qOffline}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newQFixture(b, 0, grace.Options{})
			// The reader on the last CPU, the caller pinned on the first
			// when there are two.
			reader := f.cpus[len(f.cpus)-1]
			qr := f.reader(reader, bc.mode)
			if len(f.cpus) > 1 && !unpinned {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				old, err := sysx.ThreadAffinity()
				if err != nil {
					b.Fatal(err)
				}
				if err := sysx.SetThreadAffinity(sysx.CPUSetOf(f.cpus[0])); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = sysx.SetThreadAffinity(old) }()
			}
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1<<20)
			reportsBefore := qr.reports.Load()
			b.ReportAllocs()
			b.ResetTimer()
			// One call in eight is timed on its own, for the percentiles;
			// the clock reads are too dear to leave in every call's ns/op.
			for i := 0; b.Loop(); i++ {
				if i%8 != 0 || len(lat) == cap(lat) {
					if err := f.q.Synchronize(ctx); err != nil {
						b.Fatal(err)
					}
					continue
				}
				t0 := time.Now()
				if err := f.q.Synchronize(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				b.ReportMetric(float64(lat[n/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[n*99/100].Nanoseconds()), "p99-ns")
			}
			st := f.q.Stats()
			b.ReportMetric(float64(st.Sleeps)/float64(b.N), "sleeps/op")
			if bc.mode == qReporting && qr.reports.Load() == reportsBefore && b.N > 1 {
				b.Fatalf("busy-reader: the reader made no report rounds during the run")
			}
		})
	}
}

// The floor of a report: one atomic load and one compare of an owner-local
// value, the same shape as Quiescent's fast path, written inline.
func BenchmarkQSBRReportFloor(b *testing.B) {
	var gp atomic.Uint64
	seen := uint64(0)
	b.ReportAllocs()
	for range b.N {
		if gp.Load() != seen {
			b.Fatal("moved")
		}
	}
}

// The floor of a busy-reader grace period on this machine: the writer
// stores a counter, a reader on the other CPU that polls it in a tight loop
// copies it to a word of its own, and the writer waits until it sees the
// copy: the two cache-line transfers a grace period cannot avoid, with
// nothing else.
func BenchmarkQSBRSynchronizeFloor(b *testing.B) {
	cpus := allowedCPUs(b)
	if len(cpus) < 2 {
		b.Skip("needs two CPUs")
	}
	type line struct {
		v atomic.Uint64
		_ [56]byte
	}
	var gp, ctr line
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = sysx.SetThreadAffinity(sysx.CPUSetOf(cpus[len(cpus)-1]))
		seen := uint64(0)
		for !stop.Load() {
			for range 64 {
				if g := gp.v.Load(); g != seen {
					seen = g
					ctr.v.Store(g)
				}
			}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, _ := sysx.ThreadAffinity()
	_ = sysx.SetThreadAffinity(sysx.CPUSetOf(cpus[0]))
	defer func() { _ = sysx.SetThreadAffinity(old) }()
	lat := make([]time.Duration, 0, 1<<20)
	k := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		k++
		gp.v.Store(k)
		for ctr.v.Load() != k {
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	b.StopTimer()
	stop.Store(true)
	<-done
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[n*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkPointerLoad is rcu_dereference: Pointer.Load (QSBR flavour)
// beside the bare atomic.Pointer load, in one run. In a plain build Load is
// that load (TestIntendedInlining, TestPointerLoadIsBare); a race-detector
// or ctdefer_debug build adds the test for its Debug check.
func BenchmarkPointerLoad(b *testing.B) {
	b.Run("grace", func(b *testing.B) {
		f := newQFixture(b, 1, grace.Options{})
		p := grace.NewPointer(f.q, new(int))
		n := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			n += *p.Load()
		}
		sink = n
	})
	b.Run("atomic", func(b *testing.B) {
		var p atomic.Pointer[int]
		p.Store(new(int))
		n := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			n += *p.Load()
		}
		sink = n
	})
}
