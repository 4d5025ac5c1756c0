package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ctdhost "github.com/ctdefer/ctdefer/host"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: a header, one row per check
// (check, what was found, status, how to fix) grouped, and a summary.
func WriteTable(w io.Writer, r Report) error {
	if m := r.Machine; m != nil {
		fmt.Fprintf(w, "host: %s, %d CPUs online (%s), %s, %s %s/%s\n", orUnknown(m.CPUModel), len(m.Online), ctdhost.FormatCPUList(m.Online),
			orUnknown(m.Kernel), m.GoVersion, m.OS, m.Arch)
	}
	fmt.Fprintf(w, "candidate CPUs: %s (%s); housekeeping: %s; planned workers: %d\n\n", list(r.Candidates), r.CandidatesFrom, list(r.Housekeeping), r.Workers)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tFOUND\tSTATUS\tHOW TO FIX")
	group := ""
	for _, c := range r.Checks {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(tw, "[%s]\t\t\t\n", group)
		}
		fix := c.Fix
		if fix == "" {
			fix = "-"
		}
		found, fixes := wrap(c.Found, foundWidth), wrap(fix, fixWidth)
		for i := range max(len(found), len(fixes)) {
			name, status := "", ""
			if i == 0 {
				name, status = "  "+c.Name, c.Status.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, at(found, i), status, at(fixes, i))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n"))
		}
	}
	_, err := fmt.Fprintf(w, "\n%d ok, %d warn, %d fail, %d unknown\n", r.Summary["ok"], r.Summary["warn"], r.Summary["fail"], r.Summary["unknown"])
	return err
}

// Column widths of the table's two free-text columns.
const (
	foundWidth = 64
	fixWidth   = 72
)

// wrap breaks s into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
