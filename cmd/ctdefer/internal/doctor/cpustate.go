package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
)

// checkGovernor: do the candidates run the performance governor?
func (st *state) checkGovernor() Check {
	const id, name = "cpu-governor", "frequency governor"
	fix := fmt.Sprintf("for CPU in %s: echo performance > /sys/devices/system/cpu/cpu$CPU/cpufreq/scaling_governor (or cpupower -c %s frequency-set -g performance)", st.cl(), st.cl())
	var parts []string
	var notPerf []int
	known := 0
	var lastErr error
	for _, cpu := range st.cands {
		g, err := host.ReadGovernor(st.fs, cpu)
		switch {
		case err == nil:
			known++
			parts = append(parts, fmt.Sprintf("%d: %s", cpu, g))
			if g != "performance" {
				notPerf = append(notPerf, cpu)
			}
		case host.IsNotExist(err):
			parts = append(parts, fmt.Sprintf("%d: no cpufreq", cpu))
			lastErr = err
		default:
			parts = append(parts, fmt.Sprintf("%d: %v", cpu, err))
			lastErr = err
		}
	}
	if known == 0 {
		if lastErr == nil {
			lastErr = errors.New("no candidate CPU")
		}
		c := unknown(id, GroupCPU, name, lastErr, fix)
		if st.sysfs && host.IsNotExist(lastErr) {
			c.Found = "unknown: no cpufreq (a VM, or no frequency driver): the hardware or the hypervisor decides"
			c.Fix = ""
		}
		return c
	}
	c := Check{ID: id, Group: GroupCPU, Name: name, Found: abbreviate(parts, 8), Status: OK}
	if len(notPerf) > 0 {
		c.Status, c.Fix = Warn, fix
	}
	return c
}

// checkSMT: does a candidate share its core with another candidate, or
// with a CPU on which anything may run?
func (st *state) checkSMT() Check {
	const id, name = "smt-siblings", "SMT siblings of the candidates"
	fix := "use one CPU per core (one of each thread_siblings_list) and keep the sibling idle (isolate it, pin nothing there), or disable SMT (echo off > /sys/devices/system/cpu/smt/control)"
	var parts []string
	busy := false
	known := 0
	var lastErr error
	for _, cpu := range st.cands {
		sib, err := host.ReadSiblings(st.fs, cpu)
		if err != nil {
			lastErr = err
			continue
		}
		known++
		if len(sib) == 0 {
			continue
		}
		var why []string
		if both := host.Intersect(sib, st.cands); len(both) > 0 {
			why = append(why, list(both)+" also a candidate")
		}
		if others := host.Minus(host.Minus(sib, st.cands), st.isolated); len(others) > 0 {
			why = append(why, list(others)+" not isolated")
		}
		if len(why) > 0 {
			busy = true
			parts = append(parts, fmt.Sprintf("%d shares a core with %s (%s)", cpu, list(sib), strings.Join(why, ", ")))
		} else {
			parts = append(parts, fmt.Sprintf("%d shares a core with %s (isolated, idle)", cpu, list(sib)))
		}
	}
	if known == 0 {
		if lastErr == nil {
			lastErr = errors.New("no candidate CPU")
		}
		return unknown(id, GroupCPU, name, lastErr, fix)
	}
	found := "no SMT siblings"
	if len(parts) > 0 {
		found = abbreviate(parts, 4)
	}
	if known < len(st.cands) {
		found += fmt.Sprintf("; %d CPUs unknown (%s)", len(st.cands)-known, short(lastErr))
	}
	c := Check{ID: id, Group: GroupCPU, Name: name, Found: found, Status: OK}
	if busy {
		c.Status, c.Fix = Warn, fix
	}
	return c
}
