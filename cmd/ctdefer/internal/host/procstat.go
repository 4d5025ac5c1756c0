package host

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// CPUTimes is one cpuN line of /proc/stat, in clock ticks (USER_HZ, 100
// per second on every Linux architecture).
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// TicksPerSecond is USER_HZ, the unit of /proc/stat.
const TicksPerSecond = 100

// ParseProcStat parses the per-CPU lines of /proc/stat. Kernels before
// 2.6.11 have no steal column: it reads as 0. A cpuN line with fewer than
// four numbers, or a non-numeric one, is an error.
func ParseProcStat(r io.Reader) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil || cpu < 0 {
			return nil, fmt.Errorf("/proc/stat: %q: %w", f[0], ErrMalformed)
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("/proc/stat: %s has %d fields: %w", f[0], len(f)-1, ErrMalformed)
		}
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(f); i++ {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat: %s field %d %q: %w", f[0], i+1, f[i+1], ErrMalformed)
			}
		}
		out[cpu] = CPUTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
	}
	return out, sc.Err()
}

// ReadProcStat reads and parses /proc/stat.
func ReadProcStat(fsys fs.FS) (map[int]CPUTimes, error) {
	return readParsed(fsys, PathStat, ParseProcStat)
}

// Schedstat is /proc/<pid>/task/<tid>/schedstat: the thread's time on
// the CPU, its time runnable but waiting for a CPU (run-queue delay: time
// other tasks took from it), and how many times it was scheduled in.
type Schedstat struct {
	RunNs, WaitNs, Slices uint64
}

// ParseSchedstat parses a schedstat line: three numbers.
func ParseSchedstat(s string) (Schedstat, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Schedstat{}, fmt.Errorf("schedstat %q: want 3 numbers: %w", s, ErrMalformed)
	}
	var v [3]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return Schedstat{}, fmt.Errorf("schedstat %q: %w", s, ErrMalformed)
		}
		v[i] = n
	}
	return Schedstat{v[0], v[1], v[2]}, nil
}

// ReadThreadSchedstat reads the calling thread's schedstat through
// /proc/thread-self (Linux 3.17): call it from a goroutine locked to its
// OS thread.
func ReadThreadSchedstat(fsys fs.FS) (Schedstat, error) {
	s, err := ReadString(fsys, PathThreadSched)
	if err != nil {
		return Schedstat{}, err
	}
	return ParseSchedstat(s)
}
