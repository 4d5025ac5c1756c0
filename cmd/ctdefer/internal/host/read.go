package host

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ReadString returns the content of name in fsys, white space trimmed.
// The error wraps fs.ErrNotExist for a missing file.
func ReadString(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ReadCPUList reads and parses a CPU list file.
func ReadCPUList(fsys fs.FS, name string) ([]int, error) {
	s, err := ReadString(fsys, name)
	if err != nil {
		return nil, err
	}
	cpus, err := parseCPUList(s)
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", name, err)
	}
	return cpus, nil
}

// Paths of the files this package reads, relative to the host's root.
const (
	PathCmdline      = "proc/cmdline"
	PathIsolated     = "sys/devices/system/cpu/isolated"
	PathNohzFull     = "sys/devices/system/cpu/nohz_full"
	PathOnline       = "sys/devices/system/cpu/online"
	PathPossible     = "sys/devices/system/cpu/possible"
	PathSMTActive    = "sys/devices/system/cpu/smt/active"
	PathSelfCgroup   = "proc/self/cgroup"
	PathMountinfo    = "proc/self/mountinfo"
	PathIRQ          = "proc/irq"
	PathInterrupts   = "proc/interrupts"
	PathStat         = "proc/stat"
	PathCPUInfo      = "proc/cpuinfo"
	PathOSRelease    = "proc/sys/kernel/osrelease"
	PathOSType       = "proc/sys/kernel/ostype"
	PathThreadSched  = "proc/thread-self/schedstat"
	PathClocksource  = "sys/devices/system/clocksource/clocksource0/current_clocksource"
	pathCPUDirFormat = "sys/devices/system/cpu/cpu%d/"
)

// GovernorPath is the scaling governor file of cpu.
func GovernorPath(cpu int) string {
	return fmt.Sprintf(pathCPUDirFormat+"cpufreq/scaling_governor", cpu)
}

// SiblingsPath is the SMT siblings file of cpu.
func SiblingsPath(cpu int) string {
	return fmt.Sprintf(pathCPUDirFormat+"topology/thread_siblings_list", cpu)
}

// LastPossibleCPU returns the highest possible CPU number, or -1 if the
// possible list cannot be read.
func LastPossibleCPU(fsys fs.FS) int {
	cpus, err := ReadCPUList(fsys, PathPossible)
	if err != nil || len(cpus) == 0 {
		return -1
	}
	return cpus[len(cpus)-1]
}

// ReadCmdline reads and parses /proc/cmdline.
func ReadCmdline(fsys fs.FS) (Cmdline, error) {
	s, err := ReadString(fsys, PathCmdline)
	if err != nil {
		return Cmdline{}, err
	}
	return ParseCmdline(s)
}

// IsNotExist reports whether err says a file is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
