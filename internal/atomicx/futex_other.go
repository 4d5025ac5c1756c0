//go:build !linux

package atomicx

import "time"

// futexOS is a one-token channel: a wake leaves a token if nobody sleeps, so
// the next sleep returns at once; as with futex, callers re-check their
// condition after every return.
type futexOS struct{ ch chan struct{} }

func (f *Futex) initOS() { f.os.ch = make(chan struct{}, 1) }

func (f *Futex) sleep(val uint32) {
	if f.v.Peek() != uint64(val) { // the word changed: no sleep, as futex(2)
		return
	}
	<-f.os.ch
}

func (f *Futex) sleepFor(val uint32, d time.Duration) {
	if d < 0 {
		f.sleep(val)
		return
	}
	if f.v.Peek() != uint64(val) {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.os.ch:
	case <-t.C:
	}
}

func (f *Futex) wake() {
	select {
	case f.os.ch <- struct{}{}:
	default:
	}
}
