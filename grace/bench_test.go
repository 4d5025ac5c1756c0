package grace_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// The write side, beside its peers in one run:
//
//	Synchronize/user-idle     every CPU in user mode or idle: two loads per CPU, plus the engine's own words
//	Synchronize/kernel-nudge  one CPU in a kernel stretch, reporting at Checkpoint after a nudge (an IPI)
//	ExpeditedBarrier/...      the membarrier analogue, same two cases
//	Membarrier                membarrier(PRIVATE_EXPEDITED), the system call
//	RWMutexWrite/...          Lock+Unlock of the RWMutex a Go user would pick, readers idle or busy
//
// BenchmarkSynchronize's sub-benchmarks give the ratios in one run:
//
//	ctdefer     = user-idle: two CPUs, one in user mode, one idle
//	floor       what a grace period over those two CPUs cannot avoid: one CAS
//	            to start it, two loads per CPU, one store to end it
//	membarrier  membarrier(PRIVATE_EXPEDITED), the system call
func BenchmarkSynchronize(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		type line struct {
			v atomic.Uint64
			_ [56]byte
		}
		var seq line
		words := make([]line, 2*2) // per CPU: its claimed flag and its word
		b.ReportAllocs()
		for b.Loop() {
			s := seq.v.Load()
			if !seq.v.CompareAndSwap(s, s+1) {
				b.Fatal("contended")
			}
			for i := range words {
				_ = words[i].v.Load()
			}
			seq.v.Store(s + 2)
		}
	})
	b.Run("membarrier", BenchmarkMembarrier)
	for _, bc := range []struct {
		name string
		mode int32
	}{{"ctdefer", modeUser}, {"user-idle", modeUser}, {"kernel-nudge", modeKernelCheckpoint}} {
		b.Run(bc.name, func(b *testing.B) {
			f := benchFixture(b, bc.mode, grace.Options{NudgeAfter: time.Nanosecond})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := f.g.Synchronize(ctx); err != nil {
					b.Fatal(err)
				}
			}
			st := f.g.Stats()
			b.ReportMetric(float64(st.Nudges)/float64(b.N), "nudges/op")
			if bc.mode == modeUser && (st.Nudges != 0 || f.d.Stats().IPIs != 0) {
				b.Fatalf("user-idle: a CPU was found in the kernel: %+v, %v", st, f.d.Stats())
			}
		})
	}
}

func BenchmarkExpeditedBarrier(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode int32
	}{{"user-idle", modeUser}, {"kernel", modeKernelPoll}} {
		b.Run(bc.name, func(b *testing.B) {
			f := benchFixture(b, bc.mode, grace.Options{})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := f.g.ExpeditedBarrier(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.g.Stats().BarrierIPIs)/float64(b.N), "ipis/op")
			if bc.mode == modeUser && (f.g.Stats().BarrierIPIs != 0 || f.d.Stats().IPIs != 0) {
				b.Fatalf("user-idle: a CPU was found in the kernel: %+v, %v", f.g.Stats(), f.d.Stats())
			}
		})
	}
}

func BenchmarkMembarrier(b *testing.B) {
	if _, err := sysx.Membarrier(sysx.MembarrierCmdRegisterPrivateExpedited, 0, 0); err != nil {
		b.Skipf("membarrier(REGISTER_PRIVATE_EXPEDITED) unavailable: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sysx.Membarrier(sysx.MembarrierCmdPrivateExpedited, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRWMutexWrite(b *testing.B) {
	for _, readers := range []int{0, 2} {
		name := "idle-readers"
		if readers > 0 {
			name = "busy-readers"
		}
		b.Run(name, func(b *testing.B) {
			s := &rwScheme{obj: new(int)}
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						s.mu.RLock()
						_ = *s.obj
						s.mu.RUnlock()
					}
				}()
			}
			b.ReportAllocs()
			for b.Loop() {
				s.mu.Lock()
				s.gen++ // the update; Lock is the wait for readers
				s.mu.Unlock()
			}
			stop.Store(true)
			wg.Wait()
		})
	}
}

// The read side: a kernel section (UserEnter then KernelEnter: the
// transitions an owner makes anyway; the grace period costs nothing more)
// beside an RWMutex RLock/RUnlock pair, and the owner's Checkpoint.
func BenchmarkReadSide(b *testing.B) {
	b.Run("kernel-section", func(b *testing.B) {
		f := newFixture(b, 1, grace.Options{})
		withOwner(b, f, func(c *ctdefer.CPU) {
			for b.Loop() {
				c.UserEnter()
				c.KernelEnter()
			}
		})
	})
	b.Run("checkpoint", func(b *testing.B) {
		f := newFixture(b, 1, grace.Options{})
		withOwner(b, f, func(c *ctdefer.CPU) {
			for b.Loop() {
				f.g.Checkpoint(c)
			}
		})
	})
	b.Run("rwmutex-rlock", func(b *testing.B) {
		s := &rwScheme{obj: new(int)}
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			s.mu.RLock()
			n += *s.obj
			s.mu.RUnlock()
		}
		_ = n
	})
}
