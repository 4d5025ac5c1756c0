package host

import (
	"fmt"
	"strings"
	"unicode"
)

// Cmdline is a parsed kernel command line (/proc/cmdline).
type Cmdline struct {
	params []param
}

type param struct {
	key, value string
	hasValue   bool
}

// ParseCmdline splits a kernel command line into parameters the way the
// kernel does (lib/cmdline.c, next_arg): white space separates them, double
// quotes group ("key=\"a b\"" is key with value a b), and a parameter
// without "=" has no value. An unterminated quote is an error.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	var cur strings.Builder
	inQuote, started := false, false
	flush := func() {
		if !started {
			return
		}
		tok := cur.String()
		cur.Reset()
		started = false
		k, v, ok := strings.Cut(tok, "=")
		c.params = append(c.params, param{key: k, value: v, hasValue: ok})
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			started = true
		case unicode.IsSpace(r) && !inQuote:
			flush()
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if inQuote {
		return Cmdline{}, fmt.Errorf("kernel command line: unterminated quote: %w", ErrMalformed)
	}
	flush()
	return c, nil
}

// Get returns the value of the last occurrence of key (the kernel's early
// parameters keep the last one), whether the key is present, and how many
// times it appears.
func (c Cmdline) Get(key string) (value string, present bool, count int) {
	for _, p := range c.params {
		if p.key == key {
			value, present = p.value, true
			count++
		}
	}
	return value, present, count
}

// Keys returns the parameter names in order, with repeats.
func (c Cmdline) Keys() []string {
	out := make([]string, len(c.params))
	for i, p := range c.params {
		out[i] = p.key
	}
	return out
}

// IsolCPUs is the isolcpus= parameter: its flags and its CPUs.
type IsolCPUs struct {
	Flags []string // nohz, domain, managed_irq; none given means domain
	CPUs  []int
}

// isolFlags are the flags isolcpus= accepts before its CPU list
// (kernel/sched/isolation.c); the obsolete "nohz_offload" too.
var isolFlags = map[string]bool{"nohz": true, "domain": true, "managed_irq": true, "nohz_offload": true}

// ParseIsolCPUs parses the value of isolcpus=: "[flag,...,]cpulist", as in
// "nohz,domain,managed_irq,2-3". last is as for ParseCPUListLast. An unknown
// flag is an error, as the kernel rejects it.
func ParseIsolCPUs(v string, last int) (IsolCPUs, error) {
	var iso IsolCPUs
	parts := strings.Split(strings.TrimSpace(v), ",")
	i := 0
	for ; i < len(parts); i++ {
		p := parts[i]
		if p == "" || p == "N" || p == "all" || p[0] >= '0' && p[0] <= '9' {
			break
		}
		if !isolFlags[p] {
			return IsolCPUs{}, fmt.Errorf("isolcpus=%s: unknown flag %q: %w", v, p, ErrMalformed)
		}
		iso.Flags = append(iso.Flags, p)
	}
	if len(iso.Flags) == 0 {
		iso.Flags = []string{"domain"}
	}
	cpus, err := ParseCPUListLast(strings.Join(parts[i:], ","), last)
	if err != nil {
		return IsolCPUs{}, fmt.Errorf("isolcpus=%s: %w", v, err)
	}
	iso.CPUs = cpus
	return iso, nil
}
