package host

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ctdhost "github.com/ctdefer/ctdefer/host"
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed")

// parseCPUList is ctdefer's host.ParseCPUList (the kernel's CPU list
// format, strides included) with its errors wrapping ErrMalformed.
func parseCPUList(s string) ([]int, error) {
	cpus, err := ctdhost.ParseCPUList(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrMalformed)
	}
	return cpus, nil
}

// ParseCPUListLast parses a kernel command-line CPU list: host.ParseCPUList's
// format, where "N" may also stand for the last CPU and "all" for every
// CPU; last is the highest possible CPU number (from
// /sys/devices/system/cpu/possible), or negative when unknown, which makes
// "N" and "all" errors. Errors wrap ErrMalformed.
func ParseCPUListLast(s string, last int) ([]int, error) {
	s = strings.TrimSpace(s)
	if last < 0 {
		if s == "all" {
			return nil, fmt.Errorf("cpu list %q: \"all\" needs the number of possible CPUs: %w", s, ErrMalformed)
		}
		return parseCPUList(s)
	}
	if s == "all" {
		s = "0-N"
	}
	// Replace each "N" that stands for a number: an element's first or
	// last CPU.
	n := strconv.Itoa(last)
	elems := strings.Split(s, ",")
	for i, e := range elems {
		rng, stride, hasStride := strings.Cut(e, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		if lo == "N" {
			lo = n
		}
		if hi == "N" {
			hi = n
		}
		e = lo
		if isRange {
			e += "-" + hi
		}
		if hasStride {
			e += ":" + stride
		}
		elems[i] = e
	}
	return parseCPUList(strings.Join(elems, ","))
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
