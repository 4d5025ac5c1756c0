package host

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// ParseGovernor validates a scaling_governor file: one word.
func ParseGovernor(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return "", fmt.Errorf("scaling_governor %q: want one word: %w", s, ErrMalformed)
	}
	return s, nil
}

// ReadGovernor reads cpu's frequency governor; fs.ErrNotExist means the
// CPU has no cpufreq driver (common in VMs).
func ReadGovernor(fsys fs.FS, cpu int) (string, error) {
	s, err := ReadString(fsys, GovernorPath(cpu))
	if err != nil {
		return "", err
	}
	g, err := ParseGovernor(s)
	if err != nil {
		return "", fmt.Errorf("/%s: %w", GovernorPath(cpu), err)
	}
	return g, nil
}

// ReadSiblings returns the SMT siblings of cpu, itself excluded, from
// topology/thread_siblings_list. A list that does not contain cpu itself is
// malformed.
func ReadSiblings(fsys fs.FS, cpu int) ([]int, error) {
	s, err := ReadString(fsys, SiblingsPath(cpu))
	if err != nil {
		return nil, err
	}
	sib, err := ParseSiblings(s, cpu)
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", SiblingsPath(cpu), err)
	}
	return sib, nil
}

// ParseSiblings parses a thread_siblings_list for cpu and returns the
// siblings other than cpu.
func ParseSiblings(s string, cpu int) ([]int, error) {
	all, err := parseCPUList(s)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(all, cpu) {
		return nil, fmt.Errorf("siblings %q do not include CPU %d: %w", s, cpu, ErrMalformed)
	}
	return Minus(all, []int{cpu}), nil
}

// CPUModel returns the CPU model named by /proc/cpuinfo: "model name"
// (x86), else "Model" or "Hardware" (arm), else "cpu" (powerpc); "" if
// none.
func CPUModel(r io.Reader) string {
	found := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := found[k]; !dup {
			found[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"model name", "Model", "Hardware", "cpu"} {
		if v := found[k]; v != "" {
			return v
		}
	}
	return ""
}
