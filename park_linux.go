//go:build linux

package ctdefer

import (
	"sync/atomic"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// loadWake reads the futex word (load: pairs with the increment in wakeUp).
func (s *slot) loadWake() uint32 { return atomic.LoadUint32(&s.wakeSeq) }

// sleep blocks the calling thread while wakeSeq == v. The futex system call
// compares and sleeps atomically in the kernel, so a wakeUp that bumped
// wakeSeq after v was read either makes it return at once or wakes it.
// Spurious returns are fine: every caller re-checks its condition.
func (s *slot) sleep(v uint32) {
	_ = sysx.FutexWait(&s.wakeSeq, v, -1)
}

// wakeUp bumps wakeSeq and wakes the sleeper, if any.
func (s *slot) wakeUp() {
	atomic.AddUint32(&s.wakeSeq, 1) // RMW: invalidates every v read before; pairs with loadWake
	_, _ = sysx.FutexWake(&s.wakeSeq, 1)
}

// parkOS needs nothing on Linux: the futex is wakeSeq itself.
type parkOS struct{}

func (s *slot) initPark() { s.parkOS = parkOS{} }
