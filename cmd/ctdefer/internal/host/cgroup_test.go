package host

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	in := "12:cpu,cpuacct:/docker/abc\n\n5:cpuset:/docker/abc\n1:name=systemd:/init.scope\n0::/user.slice/x\n"
	got, err := ParseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	if !slices.Equal(got[0].Controllers, []string{"cpu", "cpuacct"}) || got[0].Path != "/docker/abc" || got[0].V2() {
		t.Errorf("v1 line: %+v", got[0])
	}
	if !got[3].V2() || got[3].Path != "/user.slice/x" {
		t.Errorf("v2 line: %+v", got[3])
	}
	for _, bad := range []string{"garbage", "x:cpu:/a", "1:cpu", "1:cpu:relative", "-1:cpu:/a"} {
		if _, err := ParseProcCgroup(strings.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseProcCgroup(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
31 30 0:28 /docker /sys/fs/cgroup/cpu\040space rw,relatime - cgroup cgroup rw,cpu,cpuacct
`
	got, err := ParseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].FSType != "cgroup2" || got[0].MountPoint != "/sys/fs/cgroup" || got[0].Root != "/" {
		t.Errorf("first mount: %+v", got[0])
	}
	if got[1].MountPoint != "/sys/fs/cgroup/cpu space" || got[1].Root != "/docker" || !slices.Contains(got[1].SuperOpts, "cpuacct") {
		t.Errorf("second mount (escaped space): %+v", got[1])
	}
	for _, bad := range []string{"garbage", "1 2 3 4 5 - x", "1 2 0:1 / /m rw x y z"} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseMountinfo(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseCPUMax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"max 100000", math.Inf(1)},
		{"max", math.Inf(1)},
		{"50000 100000", 0.5},
		{"150000 100000\n", 1.5},
		{"200000", 2},
	} {
		got, err := ParseCPUMax(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCPUMax(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "lots 100000", "1 0", "1 2 3", "-5 100000", "max x"} {
		if _, err := ParseCPUMax(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCPUMax(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseCFSQuota(t *testing.T) {
	if got, err := ParseCFSQuota("-1", "100000"); err != nil || !math.IsInf(got, 1) {
		t.Errorf("no quota: %v, %v", got, err)
	}
	if got, err := ParseCFSQuota("250000\n", "100000\n"); err != nil || got != 2.5 {
		t.Errorf("2.5 CPUs: %v, %v", got, err)
	}
	for _, bad := range [][2]string{{"x", "100000"}, {"-2", "100000"}, {"5000", "0"}, {"5000", "y"}} {
		if _, err := ParseCFSQuota(bad[0], bad[1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCFSQuota(%q, %q): %v, want ErrMalformed", bad[0], bad[1], err)
		}
	}
}

func TestReadCgroupFixtures(t *testing.T) {
	for _, tc := range []struct {
		host                string
		cpusetV, quotaV     int
		cpuset              []int
		cpusetDir           string
		quota               float64
		quotaDir            string
		cpusetErr, quotaErr bool
	}{
		// cgroup v2 seen from inside a cgroup namespace: the mount's root
		// is not a prefix of the process's path; the mount point is used.
		{host: "tuned", cpusetV: 2, quotaV: 2, cpuset: []int{0, 1, 2, 3, 4, 5, 6, 7}, cpusetDir: "/sys/fs/cgroup", quota: math.Inf(1), quotaDir: "/sys/fs/cgroup"},
		// hybrid: the controllers are on v1 hierarchies.
		{host: "untuned", cpusetV: 1, quotaV: 1, cpuset: []int{0, 1}, cpusetDir: "/sys/fs/cgroup/cpuset", quota: math.Inf(1), quotaDir: "/sys/fs/cgroup/cpu"},
		// v2, nested: the parent's quota is the tighter; the cpuset file is in the leaf.
		{host: "quota-v2", cpusetV: 2, quotaV: 2, cpuset: []int{2, 3, 4, 5}, cpusetDir: "/sys/fs/cgroup/kubepods/pod1/ctr", quota: 1.5, quotaDir: "/sys/fs/cgroup/kubepods/pod1"},
		// v1 with a comma in the mount point, a quota in the leaf.
		{host: "quota-v1", cpusetV: 1, quotaV: 1, cpuset: []int{1}, cpusetDir: "/sys/fs/cgroup/cpuset/docker/abc", quota: 0.5, quotaDir: "/sys/fs/cgroup/cpu,cpuacct/docker/abc"},
		// well-formed files with malformed values: both halves report errors.
		{host: "badcgroup", cpusetV: 2, quotaV: 2, quota: math.Inf(1), cpusetErr: true, quotaErr: true},
	} {
		cg, err := ReadCgroup(os.DirFS("testdata/hosts/" + tc.host))
		if err != nil {
			t.Errorf("%s: %v", tc.host, err)
			continue
		}
		if cg.CpusetVersion != tc.cpusetV || cg.QuotaVersion != tc.quotaV {
			t.Errorf("%s: versions %d/%d, want %d/%d", tc.host, cg.CpusetVersion, cg.QuotaVersion, tc.cpusetV, tc.quotaV)
		}
		if (cg.CpusetErr != nil) != tc.cpusetErr || (cg.QuotaErr != nil) != tc.quotaErr {
			t.Errorf("%s: errors %v / %v", tc.host, cg.CpusetErr, cg.QuotaErr)
		}
		if tc.cpusetErr && !errors.Is(cg.CpusetErr, ErrMalformed) || tc.quotaErr && !errors.Is(cg.QuotaErr, ErrMalformed) {
			t.Errorf("%s: errors %v / %v should wrap ErrMalformed", tc.host, cg.CpusetErr, cg.QuotaErr)
		}
		if !tc.cpusetErr && (!slices.Equal(cg.Cpuset, tc.cpuset) || cg.CpusetDir != tc.cpusetDir) {
			t.Errorf("%s: cpuset %v in %q, want %v in %q", tc.host, cg.Cpuset, cg.CpusetDir, tc.cpuset, tc.cpusetDir)
		}
		if !tc.quotaErr && (cg.Quota != tc.quota || cg.QuotaDir != tc.quotaDir) {
			t.Errorf("%s: quota %v in %q, want %v in %q", tc.host, cg.Quota, cg.QuotaDir, tc.quota, tc.quotaDir)
		}
	}
}

func TestReadCgroupMissingOrMalformed(t *testing.T) {
	if _, err := ReadCgroup(os.DirFS("testdata/hosts/empty")); !IsNotExist(err) {
		t.Errorf("empty host: %v, want not-exist", err)
	}
	if _, err := ReadCgroup(os.DirFS("testdata/hosts/malformed")); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed host: %v, want ErrMalformed", err)
	}
}
