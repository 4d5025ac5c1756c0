package ctdefer

import (
	"encoding/json"
	"fmt"
)

// DomainStats is every statistic of a Domain: per CPU, in total and per
// work. Each counter is read atomically, the whole is not a snapshot of one
// instant (counters move while it is read). It encodes to JSON with the
// field names (durations in nanoseconds), which is what StatsVar serves.
type DomainStats struct {
	// Total is the statistics summed over every CPU (TotalStats).
	Total Stats
	// CPUs holds each CPU's statistics, in the Domain's CPU order.
	CPUs []CPUStats
	// Works holds each registered work's counters, in registration order.
	Works []WorkStats
}

// CPUStats is one CPU's entry in DomainStats.
type CPUStats struct {
	// CPU is the CPU's number.
	CPU int
	// Claimed reports whether a worker held the CPU (Claimed).
	Claimed bool
	// State is its context-tracking state: "user", "kernel" or "idle".
	State string
	// Stats are its counters (Domain.Stats).
	Stats Stats
}

// AllStats returns every statistic of the Domain. It allocates; it is meant
// for exporters (expvar through StatsVar, or any other), not hot paths.
func (d *Domain) AllStats() DomainStats {
	var ds DomainStats
	ds.CPUs = make([]CPUStats, len(d.slots))
	for i := range d.slots {
		s := &d.slots[i]
		st := s.stats()
		ds.Total.add(st)
		ds.CPUs[i] = CPUStats{
			CPU:     s.cpu,
			Claimed: s.claimed.Load(), // load: reporting only
			State:   s.word.Snapshot().State().String(),
			Stats:   st,
		}
	}
	d.mu.Lock()
	works := d.works[:len(d.works):len(d.works)] // append-only under mu: the prefix never changes
	d.mu.Unlock()
	ds.Works = make([]WorkStats, len(works))
	for i, w := range works {
		ds.Works[i] = d.workStats(w)
	}
	return ds
}

// StatsVar is a live view of a Domain's statistics that implements
// expvar.Var: its String method returns AllStats as JSON, computed anew on
// each call. Publish it to serve the Domain's statistics on /debug/vars
// with the rest of the process's:
//
//	expvar.Publish("ctdefer", d.StatsVar())
//
// (expvar.Publish panics if the name is taken: one name per Domain.) The
// package does not import expvar itself, which would register its HTTP
// handler in every program that imports ctdefer. For other exporters,
// read AllStats.
type StatsVar struct {
	d *Domain
}

// StatsVar returns the Domain's expvar.Var (see StatsVar).
func (d *Domain) StatsVar() StatsVar { return StatsVar{d} }

// String returns AllStats as JSON ("null" for the zero StatsVar, which
// has no Domain).
func (v StatsVar) String() string {
	if v.d == nil {
		return "null"
	}
	b, err := json.Marshal(v.d.AllStats())
	if err != nil { // not reached: the types hold numbers and strings only
		return fmt.Sprintf("{%q: %q}", "error", err.Error())
	}
	return string(b)
}
