package bench_test

import (
	"context"
	"github.com/ctdefer/ctdefer/internal/corelink"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/ctseq"
)

// The sender's cost of delivering one item to a pinned worker, by each
// mechanism. The first three are one-way (the sender does not wait); the
// Wait variants are round trips (the sender waits until the item has run).

// BenchmarkDeferUser: Defer to a worker that stays in user mode for the
// whole run (an isolated CPU between two kernel entries, which it makes
// after the run): every delivery is one CAS on the worker's word. The
// fraction that met the worker in the kernel (and became IPIs) is reported
// as ipi-fraction; it is 0 unless the worker is descheduled before its
// first UserEnter.
func BenchmarkDeferUser(b *testing.B) {
	r := newRig(b, userLoop(time.Hour))
	waitUser(b, r)
	b.ReportAllocs()
	b.ResetTimer()
	ipis := deferN(b, r)
	b.StopTimer()
	b.ReportMetric(float64(ipis)/float64(b.N), "ipi-fraction")
}

// deferN makes b.N Defers from the rig's sender to its target, and returns
// how many of them became IPIs.
func deferN(b *testing.B, r *rig) (ipis uint64) {
	for range b.N {
		how, err := r.d.Defer(r.target, r.work)
		if err != nil {
			b.Fatal(err)
		}
		if how == ctdefer.IPI {
			ipis++
		}
	}
	return ipis
}

// BenchmarkChannelSendPinned: a buffered channel send to a pinned worker
// that drains the channel in a loop, the idiomatic Go alternative.
func BenchmarkChannelSendPinned(b *testing.B) {
	ch := make(chan int, 1024)
	stop := pinnedWorker(b, func(stop *atomic.Bool) {
		for !stop.Load() {
			select {
			case <-ch:
			default:
			}
		}
	})
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ch <- i
	}
}

// BenchmarkMutexMailboxPinned: a mutex-guarded slice push to a pinned
// worker that drains the mailbox in a loop.
func BenchmarkMutexMailboxPinned(b *testing.B) {
	var m mailbox
	stop := pinnedWorker(b, func(stop *atomic.Bool) {
		var buf []int
		for !stop.Load() {
			buf = m.drain(buf)
		}
	})
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.push(i)
	}
}

// BenchmarkDeferWaitIPIKernelPolling: a round trip by IPI to a worker in
// kernel mode that polls continuously.
func BenchmarkDeferWaitIPIKernelPolling(b *testing.B) {
	r := newRig(b, kernelPollLoop)
	benchWait(b, r)
}

// BenchmarkDeferWaitIPIParked: a round trip by IPI to a parked worker: a
// futex wake, the worker runs the work and answers. Before each delivery the
// benchmark waits until the worker is idle again and has had time to fall
// asleep, outside the measured interval: ns/op counts that wait too, the
// ns/roundtrip metric only the delivery.
func BenchmarkDeferWaitIPIParked(b *testing.B) {
	r := newRig(b, parkedLoop)
	ctx := context.Background()
	b.ReportAllocs()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		for corelink.Of[ctdefer.CPU](r.d).State(r.target) != ctseq.Idle {
		}
		time.Sleep(20 * time.Microsecond) // let the futex wait begin
		t0 := time.Now()
		if err := r.d.DeferWait(ctx, r.target, r.work); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/roundtrip")
}

// BenchmarkDeferWaitAlwaysIPIUser: a round trip by IPI to a worker in user
// mode (claimed with AlwaysIPI) that polls in its hot loop: what deferral
// saves the worker from.
func BenchmarkDeferWaitAlwaysIPIUser(b *testing.B) {
	r := newRig(b, userLoop(20*time.Microsecond), ctdefer.AlwaysIPI())
	benchWait(b, r)
}

// BenchmarkChannelRoundTripPinned: a request and a reply over unbuffered
// channels with a pinned worker blocked in receive: the Go baseline for a
// synchronous cross-CPU call.
func BenchmarkChannelRoundTripPinned(b *testing.B) {
	req, rep := make(chan int), make(chan int)
	stop := pinnedWorker(b, func(stop *atomic.Bool) {
		for v := range req {
			rep <- v
		}
	})
	defer func() { close(req); stop() }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req <- i
		<-rep
	}
}

// waitUser waits until the rig's worker is in user mode.
func waitUser(b *testing.B, r *rig) {
	b.Helper()
	for corelink.Of[ctdefer.CPU](r.d).State(r.target) != ctseq.User {
		time.Sleep(10 * time.Microsecond)
	}
}

func benchWait(b *testing.B, r *rig) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := r.d.DeferWait(ctx, r.target, r.work); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDefer: the sender's cost of one delivery to a pinned worker,
// ctdefer's Defer beside the two mechanisms a Go program would reach for,
// in one run (the sub-benchmarks are the benchmarks above).
func BenchmarkDefer(b *testing.B) {
	b.Run("ctdefer", BenchmarkDeferUser)
	b.Run("mutex", BenchmarkMutexMailboxPinned)
	b.Run("channel", BenchmarkChannelSendPinned)
}
