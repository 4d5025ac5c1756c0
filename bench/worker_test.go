package bench_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdefer/ctdefer"
)

// rig is a Domain over two CPUs: the benchmark goroutine pins itself to the
// first (the sender), a worker goroutine pins itself to the second (the
// target) and runs a loop chosen by the benchmark.
type rig struct {
	d      *ctdefer.Domain
	sender *ctdefer.CPU
	target int
	work   ctdefer.Work
	runs   atomic.Uint64
	stop   atomic.Bool
	done   chan struct{}
}

// newRig registers one counting work, claims the sender's CPU for the
// calling goroutine and starts the worker loop on the target CPU.
func newRig(b *testing.B, loop func(r *rig, c *ctdefer.CPU), opts ...ctdefer.ClaimOption) *rig {
	b.Helper()
	d, err := ctdefer.New(ctdefer.Options{Unpinned: runtime.GOOS != "linux", IPITimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	cpus := d.CPUs()
	if len(cpus) < 2 {
		b.Skipf("needs two allowed CPUs, have %v", cpus)
	}
	r := &rig{d: d, target: cpus[1], done: make(chan struct{})}
	r.work, err = d.Register("count", func(int) { r.runs.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan error)
	go func() {
		defer close(r.done)
		c, err := d.Claim(r.target, opts...)
		ready <- err
		if err != nil {
			return
		}
		defer c.Release()
		loop(r, c)
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	if r.sender, err = d.Claim(cpus[0]); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	r.stop.Store(true)
	_ = r.sender.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.d.Close(ctx) // wakes a parked worker
	<-r.done
}

// userLoop keeps the target in user mode, entering the kernel every
// `every` to run deferred work, like an isolated packet loop.
func userLoop(every time.Duration) func(r *rig, c *ctdefer.CPU) {
	return func(r *rig, c *ctdefer.CPU) {
		for !r.stop.Load() && !c.Closing() {
			c.UserEnter()
			deadline := time.Now().Add(every)
			for time.Now().Before(deadline) && !r.stop.Load() {
				c.Poll()
			}
			c.KernelEnter()
		}
	}
}

// kernelPollLoop keeps the target in kernel mode, polling for IPIs.
func kernelPollLoop(r *rig, c *ctdefer.CPU) {
	for !r.stop.Load() && !c.Closing() {
		c.Poll()
	}
}

// parkedLoop keeps the target parked, waking only for IPIs.
func parkedLoop(r *rig, c *ctdefer.CPU) {
	for !r.stop.Load() {
		if c.Idle(context.Background()) != nil {
			return
		}
	}
}

// mailbox is the mutex-guarded alternative a Go programmer would write.
type mailbox struct {
	mu    sync.Mutex
	items []int
}

func (m *mailbox) push(v int) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
}

func (m *mailbox) drain(buf []int) []int {
	m.mu.Lock()
	buf = append(buf[:0], m.items...)
	m.items = m.items[:0]
	m.mu.Unlock()
	return buf
}

// pinnedWorker runs fn on a goroutine locked to a thread pinned to the
// target CPU (by claiming it in its own Domain), until stop is set.
func pinnedWorker(b *testing.B, fn func(stop *atomic.Bool)) (stop func()) {
	b.Helper()
	d, err := ctdefer.New(ctdefer.Options{Unpinned: runtime.GOOS != "linux"})
	if err != nil {
		b.Fatal(err)
	}
	cpus := d.CPUs()
	if len(cpus) < 2 {
		b.Skipf("needs two allowed CPUs, have %v", cpus)
	}
	var quit atomic.Bool
	done := make(chan struct{})
	ready := make(chan error)
	go func() {
		defer close(done)
		c, err := d.Claim(cpus[1])
		ready <- err
		if err != nil {
			return
		}
		defer c.Release()
		fn(&quit)
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	sender, err := d.Claim(cpus[0])
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		quit.Store(true)
		<-done
		_ = sender.Release()
		_ = d.Close(context.Background())
	}
}
