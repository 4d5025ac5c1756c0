package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
)

// NoiseRequest asks for one noise test.
type NoiseRequest struct {
	CPU       int
	Duration  time.Duration
	Threshold time.Duration
}

// NoiseResult is what one noise test saw on its CPU, osnoise-style: a
// pinned loop that reads the clock and counts every gap between two reads
// longer than the threshold (the loop was interrupted: an IRQ, a softirq,
// another task, the hypervisor, the Go runtime).
type NoiseResult struct {
	CPU       int           `json:"cpu"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Threshold time.Duration `json:"threshold_ns"`
	Gaps      uint64        `json:"gaps"`
	GapTime   time.Duration `json:"gap_time_ns"` // the gaps added up
	Longest   time.Duration `json:"longest_gap_ns"`
	// Wait: the loop thread's run-queue delay (schedstat): time other
	// tasks took from it. -1 if unknown.
	Wait time.Duration `json:"runqueue_wait_ns"`
	// Steal: the CPU's steal time (/proc/stat): time the hypervisor gave
	// the virtual CPU's host CPU to someone else. -1 if unknown; its
	// resolution is 10 ms.
	Steal time.Duration `json:"steal_ns"`
	// IRQs and TimerIRQs: interrupts counted on the CPU during the test
	// (/proc/interrupts), all of them and the local timer's. -1 if unknown.
	IRQs      int64 `json:"irqs"`
	TimerIRQs int64 `json:"timer_irqs"`
}

// GapsPerSecond is Gaps over Elapsed.
func (r NoiseResult) GapsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Gaps) / r.Elapsed.Seconds()
}

// MeasureNoise runs the noise test on req.CPU: a goroutine claims the CPU
// (pinned, through a ctdefer.Domain of that one CPU) and spins reading the
// clock for req.Duration. It fails with ctdefer's error where the CPU
// cannot be pinned (ErrNotSupported off Linux, host.ErrNotAllowed).
func MeasureNoise(fsys fs.FS, req NoiseRequest) (NoiseResult, error) {
	if req.Threshold <= 0 {
		req.Threshold = DefaultThreshold
	}
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{req.CPU}})
	if err != nil {
		return NoiseResult{}, err
	}
	defer d.Close(context.Background())
	type outcome struct {
		res NoiseResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		c, err := d.Claim(req.CPU)
		if err != nil {
			done <- outcome{err: fmt.Errorf("pinning to CPU %d: %w", req.CPU, err)}
			return
		}
		res := noiseLoop(fsys, req)
		done <- outcome{res: res, err: c.Release()}
	}()
	o := <-done
	return o.res, o.err
}

// noiseLoop runs on the pinned thread.
func noiseLoop(fsys fs.FS, req NoiseRequest) NoiseResult {
	res := NoiseResult{CPU: req.CPU, Threshold: req.Threshold, Wait: -1, Steal: -1, IRQs: -1, TimerIRQs: -1}
	// Counters are read in nesting order around the loop (schedstat
	// innermost), so that the time the other reads take, which a loaded
	// CPU stretches, stays out of the thread's run-queue wait.
	stat0, statErr := host.ReadProcStat(fsys)
	irq0, irqErr := host.ReadInterrupts(fsys)
	sched0, schedErr := host.ReadThreadSchedstat(fsys)

	start := time.Now()
	var last time.Duration
	for last < req.Duration {
		now := time.Since(start) // monotonic: a vDSO clock read
		if gap := now - last; gap > req.Threshold {
			res.Gaps++
			res.GapTime += gap
			res.Longest = max(res.Longest, gap)
		}
		last = now
	}
	res.Elapsed = last

	if sched1, err := host.ReadThreadSchedstat(fsys); schedErr == nil && err == nil {
		res.Wait = time.Duration(sched1.WaitNs - sched0.WaitNs)
	}
	if stat1, err := host.ReadProcStat(fsys); statErr == nil && err == nil {
		a, ok0 := stat0[req.CPU]
		b, ok1 := stat1[req.CPU]
		if ok0 && ok1 {
			res.Steal = time.Duration(b.Steal-a.Steal) * time.Second / host.TicksPerSecond
		}
	}
	if irq1, err := host.ReadInterrupts(fsys); irqErr == nil && err == nil {
		t0, l0 := irq0.Total(req.CPU)
		t1, l1 := irq1.Total(req.CPU)
		res.IRQs, res.TimerIRQs = int64(t1-t0), int64(l1-l0)
	}
	return res
}

// Noise verdicts: a longest gap under noiseOK is fine for a latency-sensitive
// loop; under noiseFail it is worth a look; beyond, something else runs there.
const (
	noiseOK   = 100 * time.Microsecond
	noiseFail = 5 * time.Millisecond
)

// checkNoise runs the noise test on each candidate and judges its longest
// gap and the steal.
func (st *state) checkNoise() []Check {
	fix := "find what runs there: isolate the CPU (isolcpus, nohz_full, rcu_nocbs, irqaffinity above), stop services pinned to it, check the hypervisor's steal; `perf sched timehist -C N` or the osnoise tracer name the culprits"
	if st.cfg.Noise <= 0 {
		return []Check{{ID: "noise", Group: GroupNoise, Name: "measured noise", Found: "skipped (-noise 0)", Status: Unknown}}
	}
	if st.env.Noise == nil {
		return []Check{unknown("noise", GroupNoise, "measured noise", errors.New("no noise probe"), fix)}
	}
	if len(st.cands) == 0 {
		return []Check{unknown("noise", GroupNoise, "measured noise", errors.New("no candidate CPU"), fix)}
	}
	var out []Check
	for _, cpu := range st.cands {
		id, name := fmt.Sprintf("noise-cpu%d", cpu), fmt.Sprintf("noise on CPU %d", cpu)
		r, err := st.env.Noise(NoiseRequest{CPU: cpu, Duration: st.cfg.Noise, Threshold: st.cfg.Threshold})
		if err != nil {
			out = append(out, unknown(id, GroupNoise, name, err, fix))
			continue
		}
		c := Check{ID: id, Group: GroupNoise, Name: name, Found: describeNoise(r), Status: OK}
		switch {
		case r.Longest >= noiseFail:
			c.Status, c.Fix = Fail, fix
		case r.Longest >= noiseOK || r.Steal > 0:
			c.Status, c.Fix = Warn, fix
		}
		out = append(out, c)
	}
	return out
}

// describeNoise writes a noise result for the table.
func describeNoise(r NoiseResult) string {
	s := fmt.Sprintf("%.1f gaps/s over %v, longest %v, %.3f%% of the time lost",
		r.GapsPerSecond(), r.Threshold, r.Longest.Round(time.Microsecond), 100*r.GapTime.Seconds()/max(r.Elapsed.Seconds(), 1e-9))
	if r.Wait >= 0 {
		s += fmt.Sprintf("; run-queue wait %v", r.Wait.Round(time.Microsecond))
	}
	if r.Steal >= 0 {
		s += fmt.Sprintf("; steal %v", r.Steal)
	}
	if r.IRQs >= 0 {
		s += fmt.Sprintf("; %d IRQs (%d timer)", r.IRQs, r.TimerIRQs)
	}
	return s
}
