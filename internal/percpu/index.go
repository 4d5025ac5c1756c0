package percpu

import (
	"fmt"
	"slices"
)

// MaxCPU is the largest CPU number an Index accepts. Linux supports at most
// 8192 CPUs; larger numbers are refused rather than truncated.
const MaxCPU = 1<<16 - 1

// Index is a list of distinct CPU numbers, each in [0, MaxCPU], and the
// table from CPU number to position in the list, so that per-CPU state can
// live in a dense slice in the list's order. It is read-only once made:
// safe for concurrent use. The zero Index is empty.
type Index struct {
	cpus []int
	pos  []int32 // CPU number -> position in cpus, -1 if absent
}

// NewIndex validates cpus (it keeps a copy) and builds the table. It fails
// for an empty list, a number outside [0, MaxCPU] or one listed twice, with
// an error wrapping bad (the caller's sentinel), and with check's error for
// the first CPU that check (if non-nil) refuses; CPUs are checked in order,
// each for range, then duplicates, then check.
func NewIndex(cpus []int, bad error, check func(cpu int) error) (Index, error) {
	if len(cpus) == 0 {
		return Index{}, fmt.Errorf("empty CPU list: %w", bad)
	}
	maxCPU := 0
	for i, c := range cpus {
		if c < 0 || c > MaxCPU {
			return Index{}, fmt.Errorf("CPU %d out of range [0, %d]: %w", c, MaxCPU, bad)
		}
		if slices.Contains(cpus[:i], c) {
			return Index{}, fmt.Errorf("CPU %d listed twice: %w", c, bad)
		}
		if check != nil {
			if err := check(c); err != nil {
				return Index{}, err
			}
		}
		maxCPU = max(maxCPU, c)
	}
	x := Index{cpus: slices.Clone(cpus), pos: make([]int32, maxCPU+1)}
	for i := range x.pos {
		x.pos[i] = -1
	}
	for i, c := range x.cpus {
		x.pos[c] = int32(i)
	}
	return x, nil
}

// Of returns cpu's position in the list, or -1 if cpu is not in it.
func (x *Index) Of(cpu int) int {
	if uint(cpu) >= uint(len(x.pos)) {
		return -1
	}
	return int(x.pos[cpu])
}

// List returns the CPU numbers in order. The slice is the Index's own:
// callers must not modify it (clone it to hand it out).
func (x *Index) List() []int { return x.cpus }

// Len returns the number of CPUs.
func (x *Index) Len() int { return len(x.cpus) }
