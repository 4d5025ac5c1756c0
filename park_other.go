//go:build !linux

package ctdefer

import "sync/atomic"

// Portable parking for platforms without futex: a one-token channel. A wake
// leaves a token if nobody sleeps, so the next sleep returns at once; as with
// futex, callers re-check their condition after every return.

func (s *slot) initPark() { s.parkCh = make(chan struct{}, 1) }

func (s *slot) loadWake() uint32 { return atomic.LoadUint32(&s.wakeSeq) }

func (s *slot) sleep(v uint32) {
	if atomic.LoadUint32(&s.wakeSeq) != v {
		return
	}
	<-s.parkCh
}

func (s *slot) wakeUp() {
	atomic.AddUint32(&s.wakeSeq, 1)
	select {
	case s.parkCh <- struct{}{}:
	default:
	}
}
