//go:build !linux

package ctdefer

import "sync/atomic"

// Portable parking for platforms without futex: a one-token channel. A wake
// leaves a token if nobody sleeps, so the next sleep returns at once; as with
// futex, callers re-check their condition after every return.

// parkOS holds the wake channel.
type parkOS struct{ ch chan struct{} }

func (s *slot) initPark() { s.parkOS.ch = make(chan struct{}, 1) }

func (s *slot) loadWake() uint32 { return atomic.LoadUint32(&s.wakeSeq) }

func (s *slot) sleep(v uint32) {
	if atomic.LoadUint32(&s.wakeSeq) != v {
		return
	}
	<-s.parkOS.ch
}

func (s *slot) wakeUp() {
	atomic.AddUint32(&s.wakeSeq, 1)
	select {
	case s.parkOS.ch <- struct{}{}:
	default:
	}
}
