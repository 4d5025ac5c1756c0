package sysx

import (
	"fmt"
	"strconv"
	"strings"
)

// maxListCPU is the largest CPU number ParseCPUList accepts. Linux caps
// CONFIG_NR_CPUS far below it (8192 on x86-64), and the cap bounds the
// memory a hostile list such as "0-999999999999" can make the parser
// allocate: 2^20 bits are 128 KiB.
const maxListCPU = 1<<20 - 1

// String returns the set in the kernel's list format, as in the
// Cpus_allowed_list line of /proc/<pid>/status and in
// /sys/devices/system/cpu/online: ascending, comma-separated, with runs of
// two or more consecutive CPUs written "first-last", e.g. "0-3,8,10-11".
// The empty set is "". [ParseCPUList] is its inverse.
func (s CPUSet) String() string {
	var b strings.Builder
	for lo := s.nextSet(0); lo >= 0; {
		hi := s.nextClear(lo) - 1
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(lo))
		if hi > lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(hi))
		}
		lo = s.nextSet(hi + 1)
	}
	return b.String()
}

// ParseCPUList parses a CPU list in the kernel's list format, the inverse of
// [CPUSet.String]: comma-separated elements, each a decimal CPU number "n"
// or an inclusive range "lo-hi" with lo <= hi. Elements may overlap and come
// in any order. Leading and trailing white space (such as the newline that
// ends a sysfs file) is ignored; the empty list is the empty set.
//
// The kernel's stride syntax ("0-7:2/4") is not accepted, nor are signs,
// spaces inside the list, empty elements, or CPU numbers above 2^20-1.
// Errors wrap [ErrBadCPUList] and name the input and the offending element.
func ParseCPUList(list string) (CPUSet, error) {
	var s CPUSet
	trimmed := strings.TrimSpace(list)
	if trimmed == "" {
		return s, nil
	}
	for elem := range strings.SplitSeq(trimmed, ",") {
		lo, hi, err := parseCPURange(elem)
		if err != nil {
			return CPUSet{}, fmt.Errorf("sysx: ParseCPUList %q: element %q: %w", list, elem, err)
		}
		s.setRange(lo, hi)
	}
	return s, nil
}

// parseCPURange parses one element of a CPU list: "n" or "lo-hi".
func parseCPURange(elem string) (lo, hi int, err error) {
	first, last, isRange := strings.Cut(elem, "-")
	if lo, err = parseCPUNumber(first); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseCPUNumber(last); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("%w: range %d-%d is descending", ErrBadCPUList, lo, hi)
	}
	return lo, hi, nil
}

// parseCPUNumber parses a non-empty string of decimal digits no greater than
// maxListCPU.
func parseCPUNumber(digits string) (int, error) {
	if digits == "" {
		return 0, fmt.Errorf("%w: missing CPU number", ErrBadCPUList)
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: unexpected character %q", ErrBadCPUList, c)
		}
		n = n*10 + int(c-'0')
		if n > maxListCPU {
			return 0, fmt.Errorf("%w: CPU number %s exceeds %d", ErrBadCPUList, digits, maxListCPU)
		}
	}
	return n, nil
}
