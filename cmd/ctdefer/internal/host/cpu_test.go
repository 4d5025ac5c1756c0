package host

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestGovernor(t *testing.T) {
	if g, err := ReadGovernor(os.DirFS("testdata/hosts/tuned"), 3); err != nil || g != "performance" {
		t.Errorf("tuned: %q, %v", g, err)
	}
	if _, err := ReadGovernor(os.DirFS("testdata/hosts/untuned"), 0); !IsNotExist(err) {
		t.Errorf("no cpufreq: %v", err)
	}
	if _, err := ReadGovernor(os.DirFS("testdata/hosts/malformed"), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("two words: %v", err)
	}
	if _, err := ParseGovernor(" \n"); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty governor: %v", err)
	}
}

func TestSiblings(t *testing.T) {
	if s, err := ReadSiblings(os.DirFS("testdata/hosts/tuned"), 6); err != nil || !slices.Equal(s, []int{2}) {
		t.Errorf("tuned CPU 6: %v, %v", s, err)
	}
	if s, err := ReadSiblings(os.DirFS("testdata/hosts/untuned"), 1); err != nil || len(s) != 0 {
		t.Errorf("no SMT: %v, %v", s, err)
	}
	if _, err := ReadSiblings(os.DirFS("testdata/hosts/malformed"), 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("a list without the CPU itself: %v", err)
	}
	if _, err := ReadSiblings(os.DirFS("testdata/hosts/empty"), 1); !IsNotExist(err) {
		t.Errorf("missing: %v", err)
	}
	if s, err := ParseSiblings("0-1,8-9", 8); err != nil || !slices.Equal(s, []int{0, 1, 9}) {
		t.Errorf("ParseSiblings: %v, %v", s, err)
	}
}

func TestCPUModel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"processor\t: 0\nmodel name\t: AMD EPYC\n", "AMD EPYC"},
		{"processor : 0\nBogoMIPS : 50\nHardware : BCM2835\nModel : Raspberry Pi 4\n", "Raspberry Pi 4"},
		{"cpu : POWER9\n", "POWER9"},
		{"garbage", ""},
	} {
		if got := CPUModel(strings.NewReader(tc.in)); got != tc.want {
			t.Errorf("CPUModel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
