package host

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed")

// maxCPU bounds the CPU numbers a list may name (the kernel's NR_CPUS is at
// most 8192 today; a larger number is a typo or garbage, and expanding it
// would allocate without bound).
const maxCPU = 1 << 16

// ParseCPUList parses the kernel's CPU list format, as in
// /sys/devices/system/cpu/online or smp_affinity_list: comma-separated
// numbers and ranges ("0-3,8,10-11"), optionally with a stride
// ("0-15:2/4": of each group of 4 starting at 0, the first 2). Surrounding
// white space is ignored; an empty list is valid and means no CPU. The
// result is sorted and free of duplicates.
func ParseCPUList(s string) ([]int, error) {
	return parseCPUList(s, -1)
}

// ParseCPUListLast is ParseCPUList for kernel command-line lists, which may
// also say "N" for the last CPU and "all" for every CPU; last is the highest
// possible CPU number (from /sys/devices/system/cpu/possible), or negative
// when unknown, which makes "N" and "all" errors.
func ParseCPUListLast(s string, last int) ([]int, error) {
	return parseCPUList(s, last)
}

func parseCPUList(s string, last int) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if s == "all" {
		if last < 0 {
			return nil, fmt.Errorf("cpu list %q: \"all\" needs the number of possible CPUs: %w", s, ErrMalformed)
		}
		return span(0, last, 1, 1), nil
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		got, err := parseCPURange(part, last)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		cpus = append(cpus, got...)
		if len(cpus) > maxCPU {
			return nil, fmt.Errorf("cpu list %q: more than %d CPUs: %w", s, maxCPU, ErrMalformed)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// parseCPURange parses one element of a list: "3", "0-7" or "0-7:2/4".
func parseCPURange(part string, last int) ([]int, error) {
	rng, stride, hasStride := strings.Cut(part, ":")
	lo, hi, isRange := strings.Cut(rng, "-")
	a, err := cpuNumber(lo, last)
	if err != nil {
		return nil, err
	}
	b := a
	if isRange {
		if b, err = cpuNumber(hi, last); err != nil {
			return nil, err
		}
		if b < a {
			return nil, fmt.Errorf("range %q runs backwards: %w", part, ErrMalformed)
		}
	}
	used, group := 1, 1
	if hasStride {
		u, g, ok := strings.Cut(stride, "/")
		if !isRange || !ok {
			return nil, fmt.Errorf("stride %q needs a range and used/group: %w", part, ErrMalformed)
		}
		if used, err = strconv.Atoi(u); err != nil || used <= 0 {
			return nil, fmt.Errorf("stride %q: bad used count: %w", part, ErrMalformed)
		}
		if group, err = strconv.Atoi(g); err != nil || group <= 0 || used > group {
			return nil, fmt.Errorf("stride %q: bad group size: %w", part, ErrMalformed)
		}
	}
	return span(a, b, used, group), nil
}

// cpuNumber parses one CPU number: digits, or "N" when last is known.
func cpuNumber(s string, last int) (int, error) {
	if s == "N" && last >= 0 {
		return last, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a CPU number: %w", s, ErrMalformed)
	}
	if n >= maxCPU {
		return 0, fmt.Errorf("CPU %d beyond %d: %w", n, maxCPU-1, ErrMalformed)
	}
	return n, nil
}

// span lists a..b, keeping the first used of each group.
func span(a, b, used, group int) []int {
	out := make([]int, 0, b-a+1)
	for c := a; c <= b; c++ {
		if (c-a)%group < used {
			out = append(out, c)
		}
	}
	return out
}

// FormatCPUList writes cpus in the kernel's list format, ranges collapsed
// ("0-3,8"); "" for none. The input need not be sorted.
func FormatCPUList(cpus []int) string {
	c := slices.Clone(cpus)
	slices.Sort(c)
	c = slices.Compact(c)
	var b strings.Builder
	for i := 0; i < len(c); {
		j := i
		for j+1 < len(c) && c[j+1] == c[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(c[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(c[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Subset reports whether every CPU of a is in b.
func Subset(a, b []int) bool {
	for _, c := range a {
		if !slices.Contains(b, c) {
			return false
		}
	}
	return true
}

// Intersect returns the CPUs in both a and b, sorted.
func Intersect(a, b []int) []int {
	var out []int
	for _, c := range a {
		if slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Minus returns the CPUs of a that are not in b, sorted.
func Minus(a, b []int) []int {
	var out []int
	for _, c := range a {
		if !slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
