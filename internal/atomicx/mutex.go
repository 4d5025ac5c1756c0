package atomicx

import "sync"

// Mutex is a sync.Mutex that the explorer can see. Code that the explorer
// runs must not block on anything it cannot see: a thread stopped at an
// atomic operation inside a critical section would leave every other thread
// that wants the lock blocked for real, and the exploration would hang. In
// normal builds Lock and Unlock are sync.Mutex's; under the explorer, a
// thread of an exploration takes the lock by waiting (a blocking state of
// the explored thread) until it is free, so contention for the lock is
// explored and a cycle of waits is reported as a deadlock.
//
// The zero Mutex is unlocked. A Mutex must not be copied after first use.
type Mutex struct {
	mu  sync.Mutex
	exp explorerLock // explorer builds only; empty otherwise
}

// Lock locks m.
func (m *Mutex) Lock() {
	if m.exp.lock() {
		return
	}
	m.mu.Lock()
}

// TryLock tries to lock m and reports whether it succeeded.
func (m *Mutex) TryLock() bool {
	if ok, handled := m.exp.tryLock(); handled {
		return ok
	}
	return m.mu.TryLock()
}

// Unlock unlocks m.
func (m *Mutex) Unlock() {
	if m.exp.unlock() {
		return
	}
	m.mu.Unlock()
}

// Peek reports, under the explorer, whether a thread of the exploration
// holds the lock (1) or not (0), for digests of explored state; 0 in normal
// builds.
func (m *Mutex) Peek() uint64 { return m.exp.peek() }
