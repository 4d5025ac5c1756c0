package host

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// IRQ is one interrupt line's affinity, from /proc/irq/<n>/.
type IRQ struct {
	Num int
	// Affinity: smp_affinity_list, the CPUs the IRQ may be delivered to.
	Affinity []int
	// Effective: effective_affinity_list (Linux 4.15), the CPUs it is
	// delivered to now; nil when the kernel does not say.
	Effective []int
	// Err: why Affinity could not be read or parsed (then Affinity is nil).
	Err error
}

// ReadIRQs reads the affinity of every IRQ under /proc/irq. It fails only
// if the directory cannot be listed; a malformed or unreadable file is
// recorded in that IRQ's Err. IRQs come out in numeric order.
func ReadIRQs(fsys fs.FS) ([]IRQ, error) {
	ents, err := fs.ReadDir(fsys, PathIRQ)
	if err != nil {
		return nil, err
	}
	var out []IRQ
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue // default_smp_affinity and friends
		}
		irq := IRQ{Num: n}
		dir := path.Join(PathIRQ, e.Name())
		irq.Affinity, irq.Err = ReadCPUList(fsys, path.Join(dir, "smp_affinity_list"))
		if eff, err := ReadCPUList(fsys, path.Join(dir, "effective_affinity_list")); err == nil {
			irq.Effective = eff
		}
		out = append(out, irq)
	}
	slices.SortFunc(out, func(a, b IRQ) int { return a.Num - b.Num })
	return out, nil
}

// Interrupts is /proc/interrupts: per-CPU counts per row.
type Interrupts struct {
	CPUs []int           // the CPU of each column ("CPU0 CPU1 ...")
	Rows []InterruptsRow // in file order
}

// InterruptsRow is one line: "24: 1 0 IO-APIC 5-edge ACPI:Ged".
type InterruptsRow struct {
	Label  string   // "24", "LOC", "NMI"
	Counts []uint64 // one per column; rows like ERR: have fewer
	Desc   string   // the rest of the line, white space collapsed
}

// ParseInterrupts parses /proc/interrupts. The header must name the CPU
// columns; a row without a colon or with a non-numeric count where a count
// is expected (before any description) is an error.
func ParseInterrupts(r io.Reader) (Interrupts, error) {
	var in Interrupts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return in, err
		}
		return in, fmt.Errorf("/proc/interrupts: empty: %w", ErrMalformed)
	}
	for _, h := range strings.Fields(sc.Text()) {
		n, err := strconv.Atoi(strings.TrimPrefix(h, "CPU"))
		if !strings.HasPrefix(h, "CPU") || err != nil {
			return in, fmt.Errorf("/proc/interrupts: header field %q: %w", h, ErrMalformed)
		}
		in.CPUs = append(in.CPUs, n)
	}
	if len(in.CPUs) == 0 {
		return in, fmt.Errorf("/proc/interrupts: no CPU columns: %w", ErrMalformed)
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		label, rest, ok := strings.Cut(line, ":")
		if !ok {
			return in, fmt.Errorf("/proc/interrupts: line %q has no label: %w", line, ErrMalformed)
		}
		row := InterruptsRow{Label: strings.TrimSpace(label)}
		f := strings.Fields(rest)
		i := 0
		for ; i < len(f) && i < len(in.CPUs); i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				break
			}
			row.Counts = append(row.Counts, v)
		}
		if i == 0 && len(f) > 0 {
			return in, fmt.Errorf("/proc/interrupts: row %s: count %q: %w", row.Label, f[0], ErrMalformed)
		}
		row.Desc = strings.Join(f[i:], " ")
		in.Rows = append(in.Rows, row)
	}
	return in, sc.Err()
}

// ReadInterrupts reads and parses /proc/interrupts.
func ReadInterrupts(fsys fs.FS) (Interrupts, error) {
	return readParsed(fsys, PathInterrupts, ParseInterrupts)
}

// Total returns the interrupts counted on cpu over every row, and the
// local timer's share (row LOC on x86, arch_timer elsewhere), 0 if none.
func (in Interrupts) Total(cpu int) (total, timer uint64) {
	col := slices.Index(in.CPUs, cpu)
	if col < 0 {
		return 0, 0
	}
	for _, r := range in.Rows {
		if col >= len(r.Counts) {
			continue
		}
		total += r.Counts[col]
		if r.Label == "LOC" || strings.Contains(r.Desc, "arch_timer") {
			timer += r.Counts[col]
		}
	}
	return total, timer
}

// Desc returns the description of IRQ num ("IO-APIC 5-edge ACPI:Ged"), or "".
func (in Interrupts) Desc(num int) string {
	label := strconv.Itoa(num)
	for _, r := range in.Rows {
		if r.Label == label {
			return r.Desc
		}
	}
	return ""
}
