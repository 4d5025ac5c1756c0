package host

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	c, err := ParseCmdline(`ro quiet isolcpus=2-3 "dyndbg=file a b.c +p" nohz_full=2-3 key= flag isolcpus=4` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		present    bool
		count      int
	}{
		{"ro", "", true, 1},
		{"isolcpus", "4", true, 2}, // the last one wins
		{"dyndbg", "file a b.c +p", true, 1},
		{"nohz_full", "2-3", true, 1},
		{"key", "", true, 1},
		{"flag", "", true, 1},
		{"rcu_nocbs", "", false, 0},
	} {
		v, ok, n := c.Get(tc.key)
		if v != tc.value || ok != tc.present || n != tc.count {
			t.Errorf("Get(%q) = %q, %v, %d; want %q, %v, %d", tc.key, v, ok, n, tc.value, tc.present, tc.count)
		}
	}
	if got := c.Keys(); len(got) != 8 {
		t.Errorf("Keys = %v", got)
	}
}

func TestParseCmdlineMalformed(t *testing.T) {
	if _, err := ParseCmdline(`a "b=c`); !errors.Is(err, ErrMalformed) {
		t.Errorf("unterminated quote: %v", err)
	}
	c, err := ParseCmdline("   \n")
	if err != nil || len(c.Keys()) != 0 {
		t.Errorf("blank line: %v, %v", c.Keys(), err)
	}
}

func TestParseIsolCPUs(t *testing.T) {
	for _, tc := range []struct {
		in    string
		flags []string
		cpus  []int
	}{
		{"2-3", []string{"domain"}, []int{2, 3}},
		{"nohz,domain,managed_irq,2-3,6", []string{"nohz", "domain", "managed_irq"}, []int{2, 3, 6}},
		{"managed_irq,1", []string{"managed_irq"}, []int{1}},
		{"domain,1-N", []string{"domain"}, []int{1, 2, 3}},
	} {
		got, err := ParseIsolCPUs(tc.in, 3)
		if err != nil || !slices.Equal(got.Flags, tc.flags) || !slices.Equal(got.CPUs, tc.cpus) {
			t.Errorf("ParseIsolCPUs(%q) = %+v, %v; want %v %v", tc.in, got, err, tc.flags, tc.cpus)
		}
	}
	for _, in := range []string{"bogus,2", "domain,x", "2-1"} {
		if _, err := ParseIsolCPUs(in, 3); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseIsolCPUs(%q): %v, want ErrMalformed", in, err)
		}
	}
}

func TestReadCmdlineFixtures(t *testing.T) {
	c, err := ReadCmdline(os.DirFS("testdata/hosts/tuned"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c.Get("irqaffinity"); v != "0-1,4-5" {
		t.Errorf("irqaffinity = %q", v)
	}
	if v, _, _ := c.Get("dyndbg"); v != "file foo.c +p" {
		t.Errorf("quoted dyndbg = %q", v)
	}
	if _, err := ReadCmdline(os.DirFS("testdata/hosts/malformed")); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed cmdline: %v", err)
	}
	if _, err := ReadCmdline(os.DirFS("testdata/hosts/empty")); !IsNotExist(err) {
		t.Errorf("missing cmdline: %v", err)
	}
}
