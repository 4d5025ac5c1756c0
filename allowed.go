package ctdefer

import "runtime"

// AllowedCPUs returns the CPUs a Domain may use: on Linux the process's
// allowed set as it started (the affinity given by taskset, the cgroup
// cpuset or the parent, read before main; see Options.CPUs), which is what
// New(Options{}) uses; elsewhere, and should reading the affinity have
// failed, 0 .. runtime.NumCPU()-1, what New uses with Options.Unpinned.
// The list is sorted and a fresh copy on each call: pick workers' CPUs from
// it rather than hard-coding numbers a smaller machine does not have.
func AllowedCPUs() []int {
	if cpus, err := allowedCPUs(); err == nil && len(cpus) > 0 {
		return cpus
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}
