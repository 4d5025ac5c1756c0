package lazytlb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// flushLog records the flushes a TLB's callback ran.
type flushLog struct {
	mu      sync.Mutex
	flushes []flushRec
}

type flushRec struct {
	cpu int
	mm  string
	gen uint64
}

func (l *flushLog) flush(cpu int, mm *lazytlb.MM, gen uint64) {
	l.mu.Lock()
	l.flushes = append(l.flushes, flushRec{cpu, mm.Name(), gen})
	l.mu.Unlock()
}

func (l *flushLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.flushes)
}

func (l *flushLog) last() flushRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.flushes) == 0 {
		return flushRec{}
	}
	return l.flushes[len(l.flushes)-1]
}

// direct is a single-goroutine TLB: its sender runs the IPI handler inline,
// which is valid because the test goroutine plays every CPU's owner. A
// kernel-range send plays a CPU in user mode: it reports ctdefer.Deferred
// (the handler, run inline, stands for the CPU's next kernel entry).
type direct struct {
	t     *lazytlb.TLB
	log   *flushLog
	sends []send
}

type send struct {
	cpu    int
	kernel bool
}

func newDirect(t *testing.T, cpus []int, p lazytlb.Policy) *direct {
	t.Helper()
	d := &direct{log: &flushLog{}}
	var err error
	d.t, err = lazytlb.NewWithSender(cpus, func(_ context.Context, cpu int, kernel bool) (ctdefer.Delivery, error) {
		d.sends = append(d.sends, send{cpu, kernel})
		d.t.HandleIPI(cpu)
		if kernel {
			return ctdefer.Deferred, nil
		}
		return ctdefer.IPI, nil
	}, lazytlb.Options{Policy: p, Flush: d.log.flush})
	require.NoError(t, err, "NewWithSender(%v, %v)", cpus, p)
	return d
}

func (d *direct) cpu(t *testing.T, n int) *lazytlb.CPU {
	t.Helper()
	c, err := d.t.CPU(n)
	require.NoError(t, err, "TLB.CPU(%d)", n)
	return c
}

func (d *direct) shootdown(t *testing.T, mm *lazytlb.MM, opts ...lazytlb.ShootdownOption) lazytlb.Result {
	t.Helper()
	r, err := d.t.Shootdown(context.Background(), mm, opts...)
	require.NoError(t, err, "Shootdown(%s)", mm.Name())
	return r
}

func flushedOf(t testing.TB, mm *lazytlb.MM, cpu int) uint64 {
	t.Helper()
	return mm.Flushed(cpu)
}

// oneCPU returns a one-CPU TLB under policy p whose CPU 0 is active on a new
// MM "a", and lazy if lazy.
func oneCPU(t *testing.T, p lazytlb.Policy, lazy bool) (*direct, *lazytlb.CPU, *lazytlb.MM) {
	t.Helper()
	d := newDirect(t, []int{0}, p)
	c := d.cpu(t, 0)
	mm := d.t.NewMM("a")
	c.SwitchTo(mm)
	if lazy {
		c.EnterLazy()
	}
	return d, c, mm
}

// requireArgError checks that err is a *ctdefer.ArgError from call about arg,
// wrapping ctdefer.ErrInvalid, whose reason contains reason.
func requireArgError(t testing.TB, err error, call, arg, reason, what string) *ctdefer.ArgError {
	t.Helper()
	require.ErrorIs(t, err, ctdefer.ErrInvalid, "%s", what)
	var ae *ctdefer.ArgError
	require.ErrorAs(t, err, &ae, "%s", what)
	require.Equal(t, call, ae.Call, "%s: the call", what)
	require.Equal(t, arg, ae.Arg, "%s: the argument", what)
	require.Contains(t, ae.Reason, reason, "%s: the reason", what)
	return ae
}

// maxCPU is the largest CPU number a Domain accepts (percpu.MaxCPU).
const maxCPU = 1<<16 - 1
