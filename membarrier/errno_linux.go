package membarrier

import (
	"errors"
	"os"
	"syscall"

	"github.com/ctdefer/ctdefer/host"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// classify extracts the errno of a failed system call (wrapped by sysx).
func classify(err error) (errnoKind, error) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return errnoNone, nil
	}
	switch errno {
	case syscall.EPERM:
		return errnoPerm, errno
	case syscall.ENOSYS:
		return errnoNoSys, errno
	case syscall.EINVAL:
		return errnoInval, errno
	}
	return errnoOther, errno
}

// possibleCPUs returns the CPUs the kernel may ever bring online
// (/sys/devices/system/cpu/possible: CPU ids below nr_cpu_ids), or the empty
// set if sysfs cannot tell.
func possibleCPUs() sysx.CPUSet {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return sysx.CPUSet{}
	}
	cpus, err := host.ParseCPUList(string(b))
	if err != nil {
		return sysx.CPUSet{}
	}
	return sysx.CPUSetOf(cpus...)
}
