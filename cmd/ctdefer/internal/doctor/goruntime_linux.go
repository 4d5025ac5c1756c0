//go:build linux

package doctor

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"time"

	ctdhost "github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/rtnoise"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// sink keeps the allocating loop's last objects on the heap.
var sink = make([][]byte, 16)

// measureRuntime runs the pinned loop for d on cpu, beside the rest of a
// program, and counts what the runtime did to it.
func measureRuntime(cpu int, d, threshold time.Duration, alloc bool) (RuntimeResult, error) {
	var signals atomic.Uint64
	ch := make(chan os.Signal, 1024)
	signal.Notify(ch, syscall.SIGURG)
	defer signal.Stop(ch)
	go func() {
		for range ch {
			signals.Add(1)
		}
	}()

	stop := make(chan struct{})
	defer close(stop)
	go restOfProgram(stop)

	type outcome struct {
		res RuntimeResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine, pinned
		if _, err := ctdhost.PinThread(cpu); err != nil {
			done <- outcome{err: err}
			return
		}
		res := RuntimeResult{CPU: cpu, GOMAXPROCS: runtime.GOMAXPROCS(0), Threshold: threshold, Voluntary: -1, Involuntary: -1}
		samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/pauses/total/gc:seconds"}}
		metrics.Read(samples)
		gc0 := samples[0].Value.Uint64()
		pause0 := copyHist(samples[1].Value)
		sig0 := signals.Load()
		tid := sysx.Gettid()
		vol0, invol0, swErr := sysx.ThreadSwitches(tid)

		start := time.Now()
		var last time.Duration
		for i := 0; last < d; i++ {
			now := time.Since(start)
			if gap := now - last; gap > threshold {
				res.Gaps++
				res.Longest = max(res.Longest, gap)
			}
			last = now
			if alloc && i%64 == 0 {
				sink[i/64%len(sink)] = make([]byte, 64)
			}
		}
		res.Elapsed = last

		if vol1, invol1, err := sysx.ThreadSwitches(tid); swErr == nil && err == nil {
			res.Voluntary, res.Involuntary = int64(vol1-vol0), int64(invol1-invol0)
		}
		// The signal goroutine may not have counted the last ones yet.
		time.Sleep(time.Millisecond)
		res.Signals = signals.Load() - sig0
		metrics.Read(samples)
		res.GCs = samples[0].Value.Uint64() - gc0
		res.Pause, res.MaxPause = rtnoise.Pauses(samples[1].Value.Float64Histogram(), pause0)
		done <- outcome{res: res}
	}()
	o := <-done
	if o.err != nil {
		return RuntimeResult{}, fmt.Errorf("pinning to CPU %d: %w", cpu, o.err)
	}
	return o.res, nil
}

// restOfProgram is the rest of a program beside the pinned loop: it wakes
// every millisecond and allocates 16 KiB.
func restOfProgram(stop <-chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	var keep [][]byte
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			keep = append(keep, make([]byte, 16<<10))
			if len(keep) > 64 {
				keep = keep[:0]
			}
		}
	}
}

// copyHist copies a histogram sample (metrics.Read reuses its memory).
func copyHist(v metrics.Value) []uint64 {
	return append([]uint64(nil), v.Float64Histogram().Counts...)
}
