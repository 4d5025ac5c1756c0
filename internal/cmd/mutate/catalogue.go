package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// mutant is one entry of the catalogue: textual replacements in one file
// (usually one), and the tests that must catch it.
type mutant struct {
	line int // where the entry starts in the catalogue, for messages

	name  string
	file  string   // slash-separated, relative to the module root
	desc  string   // one line: the bug
	hunks []hunk   // applied in order
	pkgs  []string // go test packages, e.g. "." or "./grace/"
	tags  string   // comma-separated build tags, or ""
	run   string   // go test -run regexp

	equivalent string // non-empty: why no test can tell (not run)
	pending    string // "explorer": the catching scenario does not exist yet
}

// hunk is one replacement: old must occur exactly once in the file as the
// hunks before it left it, and new replaces it.
type hunk struct {
	old, new string
	hasNew   bool
}

// The catalogue's syntax (verify/mutants/catalogue.txt says the same for readers):
//
//	# a comment
//	name:  completion-before-drain
//	file:  cpu.go
//	desc:  runEntryWork publishes doneSeq before the handlers run
//	old:   defer s.doneSeq.Store(seq)
//	new:   s.doneSeq.Store(seq)
//	pkgs:  .
//	tags:
//	run:   ^TestDeferredCompletionAfterHandler$
//
// An entry starts at its name: line and ends at the next one. A value is the
// rest of the line with surrounding blanks removed; a value that starts with
// a double quote is a Go string literal (strconv.Unquote), for text with
// leading tabs or several lines ("\tif x {\n\t\ty()"). A mutant that must
// change the file in more than one place (a protocol with a second atomic
// field) repeats old: and new: in pairs, each new: right after its old:;
// the pairs apply in order. Optional keys:
// tags, equivalent (a reason: the entry is not run) and pending (only
// "explorer": the entry is run and reported, but its survival does not fail
// the run).
var keyRE = regexp.MustCompile(`^([a-z]+):(.*)$`)

func parseCatalogue(path string) ([]*mutant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		ms   []*mutant
		cur  *mutant
		seen = map[*mutant]map[string]bool{}
		errs []string
	)
	bad := func(n int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", path, n, fmt.Sprintf(format, args...)))
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		m := keyRE.FindStringSubmatch(trimmed)
		if m == nil {
			bad(n, "want \"key: value\", have %q", line)
			continue
		}
		key, val := m[1], strings.TrimSpace(m[2])
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				bad(n, "%s: bad Go string literal: %v", key, err)
				continue
			}
			val = u
		}
		if key == "name" {
			cur = &mutant{line: n, name: val}
			ms = append(ms, cur)
			seen[cur] = map[string]bool{}
			continue
		}
		if cur == nil {
			bad(n, "%s: before the first name:", key)
			continue
		}
		keys := seen[cur]
		switch {
		case key == "old":
			if h := len(cur.hunks); h > 0 && !cur.hunks[h-1].hasNew {
				bad(n, "old: twice without a new: in mutant %s", cur.name)
				continue
			}
			cur.hunks = append(cur.hunks, hunk{old: val})
			continue
		case key == "new":
			h := len(cur.hunks)
			if h == 0 || cur.hunks[h-1].hasNew {
				bad(n, "new: without an old: before it in mutant %s", cur.name)
				continue
			}
			cur.hunks[h-1].new, cur.hunks[h-1].hasNew = val, true
			continue
		}
		if keys[key] {
			bad(n, "%s: given twice in mutant %s", key, cur.name)
			continue
		}
		keys[key] = true
		switch key {
		case "file":
			cur.file = val
		case "desc":
			cur.desc = val
		case "pkgs":
			cur.pkgs = strings.Fields(val)
		case "tags":
			cur.tags = val
		case "run":
			cur.run = val
		case "equivalent":
			cur.equivalent = val
		case "pending":
			cur.pending = val
		default:
			bad(n, "unknown key %q", key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	names := map[string]int{}
	nameRE := regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	for _, m := range ms {
		if prev, ok := names[m.name]; ok {
			bad(m.line, "mutant %s already defined at line %d", m.name, prev)
		}
		names[m.name] = m.line
		if !nameRE.MatchString(m.name) {
			bad(m.line, "mutant name %q: use lower-case letters, digits and dashes", m.name)
		}
		for _, r := range []struct{ key, val string }{
			{"file", m.file}, {"desc", m.desc},
		} {
			if r.val == "" {
				bad(m.line, "mutant %s: %s: missing", m.name, r.key)
			}
		}
		if len(m.hunks) == 0 {
			bad(m.line, "mutant %s: old: missing", m.name)
		}
		for _, h := range m.hunks {
			switch {
			case h.old == "":
				bad(m.line, "mutant %s: old: missing", m.name)
			case !h.hasNew || h.new == "":
				bad(m.line, "mutant %s: new: missing", m.name)
			case h.old == h.new:
				bad(m.line, "mutant %s: old and new are the same text", m.name)
			}
		}
		if strings.Contains(m.desc, "\n") {
			bad(m.line, "mutant %s: desc must be one line", m.name)
		}
		if m.pending != "" && m.pending != "explorer" {
			bad(m.line, "mutant %s: pending: want \"explorer\", have %q", m.name, m.pending)
		}
		if m.equivalent != "" {
			continue // never run: no tests to name
		}
		if len(m.pkgs) == 0 {
			bad(m.line, "mutant %s: pkgs: missing", m.name)
		}
		if m.run == "" {
			bad(m.line, "mutant %s: run: missing (a narrow -run regexp)", m.name)
		} else if _, err := regexp.Compile(m.run); err != nil {
			bad(m.line, "mutant %s: run: %v", m.name, err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bad catalogue:\n\t%s", strings.Join(errs, "\n\t"))
	}
	return ms, nil
}

// apply returns content with m's replacements made, or the reason it cannot
// be: the entry is stale.
func (m *mutant) apply(content string) (string, error) {
	for i, h := range m.hunks {
		which := "old text"
		if len(m.hunks) > 1 {
			which = fmt.Sprintf("old text %d", i+1)
		}
		switch n := strings.Count(content, h.old); n {
		case 0:
			return "", fmt.Errorf("stale mutant %s: %s not found in %s", m.name, which, m.file)
		case 1:
			content = strings.Replace(content, h.old, h.new, 1)
		default:
			return "", fmt.Errorf("stale mutant %s: %s found %d times in %s (it must be unique)", m.name, which, n, m.file)
		}
	}
	return content, nil
}
