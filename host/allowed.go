package host

import "runtime"

// AllowedCPUs returns the CPUs the process may use: on Linux its allowed
// set as it started (the affinity given by taskset, the cgroup cpuset or
// the parent, read before main), which is what ctdefer.New uses by default.
// Later changes of the process's mask (taskset -p, [Isolate], a worker's
// pin of the main thread) do not change it. The list is sorted and a fresh
// copy on each call: pick workers' CPUs from it rather than hard-coding
// numbers a smaller machine does not have.
//
// Off Linux, and should reading the affinity have failed, it returns
// 0 .. runtime.NumCPU()-1 (the CPUs of an unpinned Domain) together with an
// error saying why: off Linux it wraps ctdefer.ErrNotSupported. The list is
// never empty.
func AllowedCPUs() ([]int, error) {
	set, err := allowedSet()
	if err == nil && set.Count() > 0 {
		return set.List(), nil
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, err
}
