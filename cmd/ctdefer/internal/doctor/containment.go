package doctor

import (
	"errors"
	"fmt"
	"math"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
)

// checkAllowed: may the process run on the candidates, with a CPU to spare?
func (st *state) checkAllowed() Check {
	const id, name = "allowed-cpus", "CPUs the process may use"
	fix := "start the program with the candidate CPUs in its affinity (taskset -c, the cgroup cpuset, the container's --cpuset-cpus), plus a housekeeping CPU"
	if st.allowedErr != nil {
		return unknown(id, GroupContainment, name, st.allowedErr, fix)
	}
	found := fmt.Sprintf("allowed %s; candidates %s; housekeeping %s", list(st.allowed), st.cl(), list(st.housekeeping))
	c := Check{ID: id, Group: GroupContainment, Name: name, Found: found, Status: OK}
	switch {
	case len(st.cands) == 0:
		c.Status, c.Fix = Fail, fix
	case !host.Subset(st.cands, st.allowed):
		c.Status, c.Fix = Fail, fix
		c.Found += fmt.Sprintf("; %s not allowed", list(host.Minus(st.cands, st.allowed)))
	case len(st.housekeeping) == 0:
		c.Status, c.Fix = Warn, "leave at least one allowed CPU to the Go runtime, the OS and the controller: fewer workers, or a wider affinity"
	}
	return c
}

// checkCgroup: the cgroup cpuset holds the candidates, and the CPU quota
// leaves the spinning workers a CPU each and one to spare.
func (st *state) checkCgroup() []Check {
	const idSet, nameSet = "cgroup-cpuset", "cgroup cpuset"
	const idQuota, nameQuota = "cgroup-cpu-quota", "cgroup CPU quota"
	fixSet := fmt.Sprintf("run the program in a cgroup whose cpuset.cpus includes %s and a housekeeping CPU", st.cl())
	fixQuota := fmt.Sprintf("give the cgroup no quota (cgroup v2: echo max > cpu.max; v1: echo -1 > cpu.cfs_quota_us; docker: drop --cpus) or at least %d CPUs: a spinning worker uses a whole CPU, and a throttled cgroup stops every worker until the next period", st.workers+1)
	cg, err := host.ReadCgroup(st.fs)
	if err != nil {
		return []Check{unknown(idSet, GroupContainment, nameSet, err, fixSet), unknown(idQuota, GroupContainment, nameQuota, err, fixQuota)}
	}
	var out []Check
	if cg.CpusetErr != nil {
		out = append(out, unknown(idSet, GroupContainment, nameSet, cg.CpusetErr, fixSet))
	} else {
		c := Check{ID: idSet, Group: GroupContainment, Name: nameSet, Status: OK,
			Found: fmt.Sprintf("v%d %s: %s", cg.CpusetVersion, cg.CpusetDir, list(cg.Cpuset))}
		if !host.Subset(st.cands, cg.Cpuset) {
			c.Status, c.Fix = Fail, fixSet
			c.Found += fmt.Sprintf("; candidates %s outside it", list(host.Minus(st.cands, cg.Cpuset)))
		}
		out = append(out, c)
	}
	switch {
	case cg.QuotaVersion == 0 || cg.QuotaErr != nil && math.IsInf(cg.Quota, 1):
		why := cg.QuotaErr
		if why == nil {
			why = errors.New("no cpu controller")
		}
		out = append(out, unknown(idQuota, GroupContainment, nameQuota, why, fixQuota))
	case math.IsInf(cg.Quota, 1):
		out = append(out, Check{ID: idQuota, Group: GroupContainment, Name: nameQuota, Status: OK,
			Found: fmt.Sprintf("v%d: no quota", cg.QuotaVersion)})
	default:
		c := Check{ID: idQuota, Group: GroupContainment, Name: nameQuota, Status: OK,
			Found: fmt.Sprintf("v%d %s: %.2f CPUs for %s", cg.QuotaVersion, cg.QuotaDir, cg.Quota, plural(st.workers, "worker"))}
		switch {
		case cg.Quota < float64(st.workers):
			c.Status, c.Fix = Fail, fixQuota
		case cg.Quota < float64(st.workers+1):
			c.Status, c.Fix = Warn, fixQuota
		}
		out = append(out, c)
	}
	return out
}

// checkGOMAXPROCS: a P per spinning worker, and one for everything else.
func (st *state) checkGOMAXPROCS() Check {
	const id, name = "gomaxprocs", "GOMAXPROCS against workers"
	want := st.workers + 1
	fix := fmt.Sprintf("call runtime.GOMAXPROCS(%d) or more at start-up (or set GOMAXPROCS=%d): each spinning pinned worker holds a P, and the runtime's own goroutines (timers, GC, the controller) need at least one more", want+1, want+1)
	found := fmt.Sprintf("GOMAXPROCS %d (this process's default) for %s", st.env.GOMAXPROCS, plural(st.workers, "planned worker"))
	c := Check{ID: id, Group: GroupContainment, Name: name, Found: found, Status: OK}
	switch {
	case st.env.GOMAXPROCS < st.workers:
		c.Status, c.Fix = Fail, fix
	case st.env.GOMAXPROCS < want:
		c.Status, c.Fix = Warn, fix
	}
	return c
}
