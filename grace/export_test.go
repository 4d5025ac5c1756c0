package grace

// GracePeriodsCompleted is the number of grace periods completed (one load
// of seq; Stats also takes the reclaimer's lock), for the torture test's
// staleness histogram.
func (g *Domain) GracePeriodsCompleted() uint64 {
	return g.seq.Load() / 2 // load: pairs with the driver's end store
}
