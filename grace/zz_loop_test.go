package grace_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

func loopAtomic(ptr *atomic.Pointer[int], stop *atomic.Bool, N uint64) uint64 {
	var n, bad uint64
	for n < N && !stop.Load() {
		p := ptr.Load()
		if p != nil && *p != 8 {
			bad++
		}
		n++
	}
	return bad
}

func loopGrace(ptr *grace.Pointer[int], stop *atomic.Bool, N uint64) uint64 {
	var n, bad uint64
	for n < N && !stop.Load() {
		p := ptr.Load()
		if p != nil && *p != 8 {
			bad++
		}
		n++
	}
	return bad
}

func loopGraceQ(ptr *grace.Pointer[int], stop *atomic.Bool, r *grace.Reader, N uint64) uint64 {
	var n, bad uint64
	for n < N && !stop.Load() {
		p := ptr.Load()
		if p != nil && *p != 8 {
			bad++
		}
		n++
		if n&1023 == 0 {
			r.Quiescent()
		}
	}
	return bad
}

func BenchmarkZZLoop(b *testing.B) {
	v := 8
	f := newQFixture(b, 1, grace.QSBROptions{})
	var aptr atomic.Pointer[int]
	aptr.Store(&v)
	gptr := grace.NewPointer(f.q, &v)
	var stop atomic.Bool
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sysx.SetThreadAffinity(sysx.CPUSetOf(1))
	c, err := f.d.Claim(f.cpus[0])
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Release() }()
	r := f.q.Reader(c)
	defer r.Offline()
	b.Run("atomic", func(b *testing.B) { sink = int(loopAtomic(&aptr, &stop, uint64(b.N))) })
	b.Run("grace", func(b *testing.B) { sink = int(loopGrace(gptr, &stop, uint64(b.N))) })
	b.Run("grace-q", func(b *testing.B) { sink = int(loopGraceQ(gptr, &stop, r, uint64(b.N))) })
}
