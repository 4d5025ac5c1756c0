package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	ctdhost "github.com/ctdefer/ctdefer/host"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// TableWidth is the widest line WriteTable writes, in characters.
const TableWidth = 100

// WriteTable writes the report for people: a header, one row per check
// (check, status, what was found and, below it, how to fix it) grouped,
// and a summary. No line is wider than TableWidth.
func WriteTable(w io.Writer, r Report) error {
	var head []string
	if m := r.Machine; m != nil {
		head = append(head, fmt.Sprintf("host: %s, %d CPUs online (%s), %s, %s %s/%s", orUnknown(m.CPUModel), len(m.Online), ctdhost.FormatCPUList(m.Online),
			orUnknown(m.Kernel), m.GoVersion, m.OS, m.Arch))
	}
	head = append(head, fmt.Sprintf("candidate CPUs: %s (%s); housekeeping: %s; planned workers: %d", list(r.Candidates), r.CandidatesFrom, list(r.Housekeeping), r.Workers))
	for _, h := range head {
		for _, line := range wrap(h, TableWidth) {
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintln(w)

	// The name column is as wide as the longest name; the text column
	// takes the rest.
	nameWidth := len("CHECK")
	for _, c := range r.Checks {
		nameWidth = max(nameWidth, 2+utf8.RuneCountInString(c.Name), utf8.RuneCountInString(c.Group)+2)
	}
	const statusWidth, gap = len("unknown"), 2
	textWidth := TableWidth - nameWidth - gap - statusWidth - gap

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, gap, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tFOUND; HOW TO FIX")
	group := ""
	for _, c := range r.Checks {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(tw, "[%s]\t\t\n", group)
		}
		lines := wrap(c.Found, textWidth)
		if c.Fix != "" {
			for i, l := range wrap("fix: "+c.Fix, textWidth-2) {
				if i > 0 {
					l = "  " + l
				}
				lines = append(lines, l)
			}
		}
		for i, l := range lines {
			name, status := "", ""
			if i == 0 {
				name, status = "  "+c.Name, c.Status.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, status, l)
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

// wrap breaks s into lines of at most width characters at spaces (a
// longer word gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
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

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
