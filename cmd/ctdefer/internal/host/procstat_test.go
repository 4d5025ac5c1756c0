package host

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	st, err := ReadProcStat(os.DirFS("testdata/hosts/tuned"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 8 || st[1].Steal != 3 || st[0].Idle != 11250 {
		t.Errorf("stat: %+v", st)
	}
	old, err := ParseProcStat(strings.NewReader("cpu0 1 2 3 4\n")) // before steal existed
	if err != nil || old[0].Steal != 0 || old[0].Idle != 4 {
		t.Errorf("short line: %+v, %v", old, err)
	}
	for _, bad := range []string{"cpu0 1 2\n", "cpux 1 2 3 4\n", "cpu0 1 2 x 4\n"} {
		if _, err := ParseProcStat(strings.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseProcStat(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	s, err := ParseSchedstat("8352371 800587093 13\n")
	if err != nil || s != (Schedstat{8352371, 800587093, 13}) {
		t.Errorf("schedstat: %+v, %v", s, err)
	}
	for _, bad := range []string{"", "1 2", "1 2 x", "1 2 3 4"} {
		if _, err := ParseSchedstat(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSchedstat(%q): %v", bad, err)
		}
	}
}
