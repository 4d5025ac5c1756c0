// Package statslink is what package ctdefer reaches in package stats
// without exporting it: counting a duration n times into a
// stats.Histogram, for a CPU's live latency counts read into a snapshot.
// Package stats sets it in its init; ctdefer imports stats, so it is set
// before ctdefer's first use.
package statslink

import "time"

// RecordN counts d n times into h, a *stats.Histogram.
var RecordN func(h any, d time.Duration, n uint64)
