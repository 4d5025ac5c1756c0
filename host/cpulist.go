package host

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ctdefer/ctdefer/internal/percpu"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// ParseCPUList parses the kernel's CPU list format, as in
// /sys/devices/system/cpu/online, the Cpus_allowed_list line of
// /proc/<pid>/status and the isolcpus= boot parameter: comma-separated
// elements, each a CPU number "n", an inclusive range "lo-hi" with
// lo <= hi, or a range with a stride "lo-hi:used/group" (of each group of
// group CPUs from lo, the first used: "0-7:2/4" is 0,1,4,5). Elements may
// overlap and come in any order. Leading and trailing white space (the
// newline that ends a sysfs file) is ignored; the empty list is no CPU
// (nil). The result is sorted and free of duplicates; [FormatCPUList] is
// its inverse.
//
// Signs, spaces inside the list, empty elements and CPU numbers above 65535
// (the largest CPU number a ctdefer.Domain accepts) are errors, which name the list and the element.
func ParseCPUList(list string) ([]int, error) {
	trimmed := strings.TrimSpace(list)
	if trimmed == "" {
		return nil, nil
	}
	// A bitmap of at most 65536 bits: it sorts, removes duplicates and
	// bounds what a hostile list can make the parser allocate.
	var set sysx.CPUSet
	for elem := range strings.SplitSeq(trimmed, ",") {
		if err := parseCPURange(&set, elem); err != nil {
			return nil, fmt.Errorf("host: ParseCPUList(%q): element %q: %w", list, elem, err)
		}
	}
	return set.List(), nil
}

// parseCPURange adds the CPUs of one element of a list to set: "n", "lo-hi"
// or "lo-hi:used/group".
func parseCPURange(set *sysx.CPUSet, elem string) error {
	rng, stride, hasStride := strings.Cut(elem, ":")
	first, last, isRange := strings.Cut(rng, "-")
	lo, err := parseNumber(first)
	if err != nil {
		return err
	}
	hi := lo
	if isRange {
		if hi, err = parseNumber(last); err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("range %d-%d is descending", lo, hi)
		}
	}
	used, group := 1, 1
	if hasStride {
		u, g, ok := strings.Cut(stride, "/")
		if !isRange || !ok {
			return fmt.Errorf("a stride needs a range and used/group")
		}
		if used, err = parseNumber(u); err != nil || used == 0 {
			return fmt.Errorf("bad used count %q", u)
		}
		if group, err = parseNumber(g); err != nil || group < used {
			return fmt.Errorf("bad group size %q", g)
		}
	}
	for c := lo; c <= hi; c++ {
		if (c-lo)%group < used {
			set.Set(c)
		}
	}
	return nil
}

// parseNumber parses a non-empty string of decimal digits no greater than
// percpu.MaxCPU.
func parseNumber(digits string) (int, error) {
	if digits == "" {
		return 0, fmt.Errorf("missing CPU number")
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("unexpected character %q", c)
		}
		n = n*10 + int(c-'0')
		if n > percpu.MaxCPU {
			return 0, fmt.Errorf("CPU number %s exceeds %d", digits, percpu.MaxCPU)
		}
	}
	return n, nil
}

// FormatCPUList writes cpus in the kernel's list format: ascending,
// comma-separated, with runs of two or more consecutive CPUs written
// "first-last", e.g. "0-3,8,10-11"; "" for none. The input need not be
// sorted, and duplicates are written once. [ParseCPUList] is its inverse.
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
