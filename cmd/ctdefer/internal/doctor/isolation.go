package doctor

import (
	"fmt"
	"slices"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	ctdhost "github.com/ctdefer/ctdefer/host"
)

// checkIsolated: are the candidates isolated from the scheduler
// (/sys/devices/system/cpu/isolated; isolcpus= on kernels without it)?
func (st *state) checkIsolated() Check {
	const id, name = "isolated-cpus", "isolated CPUs (isolcpus)"
	fix := fmt.Sprintf("boot with isolcpus=domain,managed_irq,%s (or make them a cgroup v2 cpuset partition: cpuset.cpus.partition=isolated); host.Isolate moves the process's own threads off them at run time", st.cl())
	if st.isolatedErr != nil {
		if host.IsNotExist(st.isolatedErr) && st.sysfs {
			// Kernels before 4.2 have no isolated file; the command line says.
			if v, ok, _ := st.cmd.Get("isolcpus"); ok {
				iso, err := host.ParseIsolCPUs(v, st.last)
				if err != nil {
					return Check{ID: id, Group: GroupIsolation, Name: name, Found: "isolcpus=" + v + ": " + err.Error(), Status: Warn, Fix: fix}
				}
				return st.isolatedVerdict(id, name, iso.CPUs, "isolcpus="+v, fix)
			}
		}
		return unknown(id, GroupIsolation, name, st.isolatedErr, fix)
	}
	found := ""
	if v, ok, _ := st.cmd.Get("isolcpus"); ok {
		found = "isolcpus=" + v
		if _, err := host.ParseIsolCPUs(v, st.last); err != nil {
			found += " (" + err.Error() + ")"
		}
	}
	return st.isolatedVerdict(id, name, st.isolated, found, fix)
}

// isolatedVerdict judges the candidates against an isolated set.
func (st *state) isolatedVerdict(id, name string, iso []int, extra, fix string) Check {
	found := "isolated: " + list(iso)
	if extra != "" {
		found += "; " + extra
	}
	c := Check{ID: id, Group: GroupIsolation, Name: name, Found: found}
	switch {
	case len(st.cands) > 0 && host.Subset(st.cands, iso):
		c.Status = OK
	case len(host.Intersect(st.cands, iso)) > 0:
		c.Status, c.Fix = Warn, fix
		c.Found += fmt.Sprintf("; candidates %s only partly", st.cl())
	default:
		c.Status, c.Fix = Warn, fix
		c.Found += fmt.Sprintf("; candidates %s are not", st.cl())
	}
	return c
}

// checkNohzFull: do the candidates stop their tick (sysfs nohz_full,
// nohz_full=)?
func (st *state) checkNohzFull() Check {
	const id, name = "nohz-full", "tickless CPUs (nohz_full)"
	fix := fmt.Sprintf("boot with nohz_full=%s (kernel built with CONFIG_NO_HZ_FULL): the scheduler tick stops on a CPU that runs one task", st.cl())
	s, err := host.ReadString(st.fs, host.PathNohzFull)
	cmdCPUs, cmdPresent, raw, cmdErr := st.cmdlineList("nohz_full")
	var cpus []int
	var found string
	switch {
	case err == nil:
		if s != "(null)" {
			if cpus, err = ctdhost.ParseCPUList(s); err != nil {
				return unknown(id, GroupIsolation, name, fmt.Errorf("/%s: %w", host.PathNohzFull, err), fix)
			}
		}
		found = "nohz_full: " + list(cpus)
	case host.IsNotExist(err) && st.sysfs:
		found = "no /" + host.PathNohzFull + " (kernel without CONFIG_NO_HZ_FULL)"
		if cmdPresent && cmdErr == nil {
			cpus = cmdCPUs
		}
	default:
		if !cmdPresent {
			return unknown(id, GroupIsolation, name, err, fix)
		}
		if cmdErr != nil {
			return unknown(id, GroupIsolation, name, cmdErr, fix)
		}
		cpus, found = cmdCPUs, "no sysfs"
	}
	if cmdPresent {
		found += "; " + raw
		if cmdErr != nil {
			found += " (" + cmdErr.Error() + ")"
		}
	}
	c := Check{ID: id, Group: GroupIsolation, Name: name, Found: found, Status: OK}
	if len(st.cands) == 0 || !host.Subset(st.cands, cpus) {
		c.Status, c.Fix = Warn, fix
	}
	return c
}

// checkRCUNocbs: are the candidates' RCU callbacks offloaded (rcu_nocbs=,
// or nohz_full=, which implies it)?
func (st *state) checkRCUNocbs() Check {
	const id, name = "rcu-nocbs", "RCU callbacks offloaded (rcu_nocbs)"
	fix := fmt.Sprintf("boot with rcu_nocbs=%s (nohz_full= implies it): RCU callbacks then run on housekeeping CPUs", st.cl())
	if st.cmdErr != nil {
		return unknown(id, GroupIsolation, name, st.cmdErr, fix)
	}
	nocbs, present, raw, err := st.cmdlineList("rcu_nocbs")
	if present && err != nil {
		return Check{ID: id, Group: GroupIsolation, Name: name, Found: raw + ": " + err.Error(), Status: Warn, Fix: fix}
	}
	nohz, _, nohzRaw, _ := st.cmdlineList("nohz_full")
	found := "rcu_nocbs not set"
	if present {
		found = raw
		if v, _, _ := st.cmd.Get("rcu_nocbs"); v == "" {
			found = "rcu_nocbs (no list: offloading possible on every CPU, none offloaded at boot)"
		}
	}
	if nohzRaw != "" {
		found += "; " + nohzRaw
	}
	covered := append(slices.Clone(nocbs), nohz...)
	c := Check{ID: id, Group: GroupIsolation, Name: name, Found: found, Status: OK}
	if len(st.cands) == 0 || !host.Subset(st.cands, covered) {
		c.Status, c.Fix = Warn, fix
	}
	return c
}

// checkIRQAffinityParam: does irqaffinity= keep new IRQs off the
// candidates?
func (st *state) checkIRQAffinityParam() Check {
	const id, name = "irqaffinity", "default IRQ affinity (irqaffinity)"
	fix := fmt.Sprintf("boot with irqaffinity=%s: new IRQs then avoid the candidate CPUs", st.hk())
	if st.cmdErr != nil {
		return unknown(id, GroupIsolation, name, st.cmdErr, fix)
	}
	cpus, present, raw, err := st.cmdlineList("irqaffinity")
	switch {
	case !present:
		return Check{ID: id, Group: GroupIsolation, Name: name, Found: "irqaffinity not set (every CPU)", Status: Warn, Fix: fix}
	case err != nil:
		return Check{ID: id, Group: GroupIsolation, Name: name, Found: raw + ": " + err.Error(), Status: Warn, Fix: fix}
	case len(host.Intersect(cpus, st.cands)) > 0:
		return Check{ID: id, Group: GroupIsolation, Name: name, Found: raw + fmt.Sprintf(" includes candidates %s", list(host.Intersect(cpus, st.cands))), Status: Warn, Fix: fix}
	}
	return Check{ID: id, Group: GroupIsolation, Name: name, Found: raw, Status: OK}
}
