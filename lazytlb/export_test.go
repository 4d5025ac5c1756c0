package lazytlb

// Rearm turns a marked CPU (Flush) back to Lazy without passing through OK,
// dropping the mark without flushing, and reports whether it did. For the
// shootdown benchmarks only, whose flush is a no-op: every shootdown then
// finds the CPU Lazy or Flush, never OK, and sends no IPI. Owner only.
func (c *CPU) Rearm() bool {
	// CAS: Flush -> Lazy, a transition the protocol does not have (only
	// a swap consumes a Flush); pairs with the shootdowns' load and CAS.
	return c.s.state.v.CompareAndSwap(uint64(Flush), uint64(Lazy))
}
