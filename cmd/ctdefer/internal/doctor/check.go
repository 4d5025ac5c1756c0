// Package doctor inspects a host for running pinned workers on isolated
// CPUs: isolation, containment, interrupts, CPU state, kernel support and
// measured noise. Each check reports what it found, a Status and how to
// fix it. Reading the host goes through an fs.FS and the live probes
// through Env, so tests run every check on fixture trees.
package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Status is a check's verdict.
type Status uint8

// The verdicts, from best to worst; Unknown when the check could not look.
const (
	OK Status = iota
	Warn
	Fail
	Unknown
)

var statusNames = [...]string{"ok", "warn", "fail", "unknown"}

// String returns "ok", "warn", "fail" or "unknown".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// MarshalText writes the name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("doctor: unknown status %q", b)
}

// Group names, in report order.
const (
	GroupIsolation   = "isolation"
	GroupContainment = "containment"
	GroupInterrupts  = "interrupts"
	GroupCPU         = "cpu state"
	GroupKernel      = "kernel support"
	GroupNoise       = "noise"
)

// Check is one line of the report.
type Check struct {
	ID     string `json:"id"`    // stable: "isolated-cpus", "noise-cpu3", ...
	Group  string `json:"group"` // one of the Group constants
	Name   string `json:"name"`  // what is checked, for people
	Found  string `json:"found"`
	Status Status `json:"status"`
	Fix    string `json:"fix,omitempty"` // empty when there is nothing to do
}

// unknown is a Check that could not look, saying why.
func unknown(id, group, name string, why error, fix string) Check {
	return Check{ID: id, Group: group, Name: name, Found: "unknown: " + short(why), Status: Unknown, Fix: fix}
}

// short says why a file could not be used, without the fs wrapper noise.
func short(err error) string {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist):
		return "no /" + strings.TrimPrefix(pe.Path, "/")
	case errors.As(err, &pe) && errors.Is(err, fs.ErrPermission):
		return "cannot read /" + strings.TrimPrefix(pe.Path, "/") + " (permission)"
	}
	return err.Error()
}
