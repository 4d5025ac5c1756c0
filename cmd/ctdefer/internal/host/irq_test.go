package host

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestReadIRQs(t *testing.T) {
	irqs, err := ReadIRQs(os.DirFS("testdata/hosts/tuned"))
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, q := range irqs {
		nums = append(nums, q.Num)
		if q.Err != nil {
			t.Errorf("IRQ %d: %v", q.Num, q.Err)
		}
	}
	if !slices.Equal(nums, []int{0, 8, 24, 25, 26}) { // numeric order, default_smp_affinity skipped
		t.Errorf("IRQs %v", nums)
	}
	if !slices.Equal(irqs[0].Affinity, []int{0, 1, 4, 5}) || !slices.Equal(irqs[0].Effective, []int{0}) {
		t.Errorf("IRQ 0: %+v", irqs[0])
	}

	bad, err := ReadIRQs(os.DirFS("testdata/hosts/malformed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 2 || !errors.Is(bad[0].Err, ErrMalformed) || bad[1].Err != nil || bad[1].Effective != nil {
		t.Errorf("malformed IRQs: %+v", bad)
	}
	if _, err := ReadIRQs(os.DirFS("testdata/hosts/empty")); !IsNotExist(err) {
		t.Errorf("no /proc/irq: %v", err)
	}
}

func TestParseInterrupts(t *testing.T) {
	in, err := ReadInterrupts(os.DirFS("testdata/hosts/tuned"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.CPUs) != 8 {
		t.Fatalf("columns %v", in.CPUs)
	}
	if total, timer := in.Total(1); total != 5+9912+234567+200 || timer != 234567 {
		t.Errorf("CPU 1: total %d, timer %d", total, timer)
	}
	if total, _ := in.Total(42); total != 0 {
		t.Errorf("an unknown CPU counts %d", total)
	}
	if d := in.Desc(25); !strings.HasSuffix(d, "eth0-rx-0") {
		t.Errorf("IRQ 25: %q", d)
	}
	if d := in.Desc(99); d != "" {
		t.Errorf("IRQ 99: %q", d)
	}
	for _, bad := range []string{"", "not a header\n", "CPU0 CPU1\n 1: x y desc\n", "CPU0\nno colon here\n"} {
		if _, err := ParseInterrupts(strings.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseInterrupts(%q): %v, want ErrMalformed", bad, err)
		}
	}
}
