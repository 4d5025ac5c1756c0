package atomicx

import "sync/atomic"

// Counter is a 64-bit statistics counter: incremented by one party (or a
// few, on slow paths) and read, for reporting only, by anyone.
//
// Unlike the other types of this package, its operations are not
// scheduling points of the interleaving explorer: a counter orders nothing
// and no decision of the protocol reads it, so the interleavings around it
// are all equivalent, and exploring them would only multiply the schedules.
// That is also why the counter it touches may depend on the clock (a
// latency histogram's bucket): the explorer replays a thread by the
// scheduling points it reaches, and a Counter is never one. Never use a
// Counter for a value that code branches on; use Uint64.
//
// The zero value is 0 and ready to use. A Counter is 8-byte aligned on
// every platform (sync/atomic's Uint64 is), so it may be placed anywhere.
// It must not be copied after first use.
type Counter struct {
	v atomic.Uint64
}

// Add atomically adds delta.
func (c *Counter) Add(delta uint64) { c.v.Add(delta) }

// Inc atomically adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Load atomically loads the count.
func (c *Counter) Load() uint64 { return c.v.Load() }
