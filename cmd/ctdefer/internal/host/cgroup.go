package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// CgroupEntry is one line of /proc/<pid>/cgroup: "ID:controllers:path".
// Version 2 is the line with ID 0 and no controllers.
type CgroupEntry struct {
	ID          int
	Controllers []string // v1: "cpuset", "cpu", "cpuacct", "name=systemd"; v2: none
	Path        string
}

// V2 reports whether e is the unified (cgroup v2) hierarchy's line.
func (e CgroupEntry) V2() bool { return e.ID == 0 && len(e.Controllers) == 0 }

// ParseProcCgroup parses /proc/<pid>/cgroup. Blank lines are skipped; a line
// without two colons, with a non-numeric ID or a relative path is an error.
func ParseProcCgroup(r io.Reader) ([]CgroupEntry, error) {
	var out []CgroupEntry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctrl, p, ok2 := strings.Cut(rest, ":")
		num, err := strconv.Atoi(id)
		if !ok1 || !ok2 || err != nil || num < 0 || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("/proc/self/cgroup line %d %q: want ID:controllers:/path: %w", n, line, ErrMalformed)
		}
		e := CgroupEntry{ID: num, Path: p}
		if ctrl != "" {
			e.Controllers = strings.Split(ctrl, ",")
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Mount is one line of /proc/<pid>/mountinfo, the fields this package uses.
type Mount struct {
	Root       string   // the directory of the filesystem mounted here
	MountPoint string   // where it is mounted
	FSType     string   // "cgroup", "cgroup2", ...
	SuperOpts  []string // for cgroup v1: the controllers, among other options
}

// ParseMountinfo parses /proc/<pid>/mountinfo (proc(5)): "ID parent
// major:minor root mountpoint options [optional...] - fstype source
// superoptions", with octal escapes (\040) in paths. A line without the
// "-" separator or with too few fields is an error.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+3 {
			return nil, fmt.Errorf("/proc/self/mountinfo line %d: %d fields, separator at %d: %w", n, len(f), sep, ErrMalformed)
		}
		out = append(out, Mount{
			Root:       unescapeOctal(f[3]),
			MountPoint: unescapeOctal(f[4]),
			FSType:     f[sep+1],
			SuperOpts:  strings.Split(f[sep+3], ","),
		})
	}
	return out, sc.Err()
}

// unescapeOctal decodes the \ooo escapes the kernel writes for space, tab,
// newline and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseCPUMax parses cgroup v2 cpu.max: "max 100000" (no quota) or
// "50000 100000" (quota and period in microseconds). It returns the quota
// in CPUs (quota/period), or +Inf for none.
func ParseCPUMax(s string) (cpus float64, err error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("cpu.max %q: want \"quota period\": %w", s, ErrMalformed)
	}
	period := 100000.0
	if len(f) == 2 {
		p, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || p == 0 {
			return 0, fmt.Errorf("cpu.max %q: bad period: %w", s, ErrMalformed)
		}
		period = float64(p)
	}
	if f[0] == "max" {
		return math.Inf(1), nil
	}
	q, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cpu.max %q: bad quota: %w", s, ErrMalformed)
	}
	return float64(q) / period, nil
}

// ParseCFSQuota parses cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us:
// a quota of -1 is none (+Inf CPUs).
func ParseCFSQuota(quota, period string) (cpus float64, err error) {
	q, err := strconv.ParseInt(strings.TrimSpace(quota), 10, 64)
	if err != nil || q < -1 {
		return 0, fmt.Errorf("cpu.cfs_quota_us %q: %w", quota, ErrMalformed)
	}
	if q == -1 {
		return math.Inf(1), nil
	}
	p, err := strconv.ParseUint(strings.TrimSpace(period), 10, 64)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("cpu.cfs_period_us %q: %w", period, ErrMalformed)
	}
	return float64(q) / float64(p), nil
}

// Cgroup is what the process's cgroups say about its CPUs.
type Cgroup struct {
	// CpusetVersion and CPUQuotaVersion: 1 or 2, the hierarchy the
	// controller was found in; 0 if not found.
	CpusetVersion, QuotaVersion int
	// CpusetDir and QuotaDir: where the deciding file was read: the
	// process's cgroup or the nearest ancestor that has the file; for the
	// quota, the ancestor with the tightest one.
	CpusetDir, QuotaDir string
	// Cpuset: the effective cpuset; nil if not found (CpusetErr says why).
	Cpuset    []int
	CpusetErr error
	// Quota: the tightest CPU quota over the process's cgroup and its
	// ancestors, in CPUs; +Inf for none. QuotaErr says why it is unknown.
	Quota    float64
	QuotaErr error
}

// ErrNoCgroup: the process's cgroup for a controller could not be located.
var ErrNoCgroup = errors.New("no cgroup found for the controller")

// ReadCgroup locates the process's cpuset and cpu controllers, in cgroup v1
// where a v1 hierarchy carries the controller, else in v2, and reads the
// effective cpuset and the tightest CPU quota. Errors of each half are in
// CpusetErr and QuotaErr; the whole fails only if /proc/self/cgroup or
// mountinfo cannot be read or parsed.
func ReadCgroup(fsys fs.FS) (Cgroup, error) {
	entries, err := readParsed(fsys, PathSelfCgroup, ParseProcCgroup)
	if err != nil {
		return Cgroup{}, err
	}
	mounts, err := readParsed(fsys, PathMountinfo, ParseMountinfo)
	if err != nil {
		return Cgroup{}, err
	}
	cg := Cgroup{Quota: math.Inf(1)}

	// cpuset
	if dir, root, v, err := locate(entries, mounts, "cpuset"); err != nil {
		cg.CpusetErr = err
	} else {
		cg.CpusetVersion = v
		files := []string{"cpuset.cpus.effective"}
		if v == 1 {
			files = []string{"cpuset.effective_cpus", "cpuset.cpus"}
		}
		cg.CpusetDir, cg.Cpuset, cg.CpusetErr = nearestCPUList(fsys, dir, root, files)
	}

	// cpu quota: every ancestor's limit applies; keep the tightest.
	if dir, root, v, err := locate(entries, mounts, "cpu"); err != nil {
		cg.QuotaErr = err
	} else {
		cg.QuotaVersion = v
		found := false
		for d := dir; ; d = path.Dir(d) {
			q, err := readQuota(fsys, d, v)
			switch {
			case err == nil:
				if !found {
					cg.QuotaDir = "/" + d // the nearest file, until a tighter quota
				}
				found = true
				if q < cg.Quota {
					cg.Quota, cg.QuotaDir = q, "/"+d
				}
			case !errors.Is(err, fs.ErrNotExist):
				cg.QuotaErr = err
			}
			if d == root || d == "." || d == "/" {
				break
			}
		}
		if !found && cg.QuotaErr == nil && v == 1 {
			cg.QuotaErr = fmt.Errorf("/%s/cpu.cfs_quota_us: %w", dir, fs.ErrNotExist)
		}
	}
	return cg, nil
}

func readParsed[T any](fsys fs.FS, name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := fsys.Open(name)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("/%s: %w", name, err)
	}
	return v, nil
}

// locate returns the fs path of the process's cgroup directory for
// controller, the mount point it is under (the top of the walk up), and
// the hierarchy's version.
func locate(entries []CgroupEntry, mounts []Mount, controller string) (dir, top string, version int, err error) {
	// v1 first: a controller bound to a v1 hierarchy is absent from v2.
	for _, e := range entries {
		if e.V2() || !slices.Contains(e.Controllers, controller) {
			continue
		}
		for _, m := range mounts {
			if m.FSType == "cgroup" && slices.Contains(m.SuperOpts, controller) {
				d, t := join(m, e.Path)
				return d, t, 1, nil
			}
		}
	}
	for _, e := range entries {
		if !e.V2() {
			continue
		}
		for _, m := range mounts {
			if m.FSType == "cgroup2" {
				d, t := join(m, e.Path)
				return d, t, 2, nil
			}
		}
	}
	return "", "", 0, fmt.Errorf("%s: %w", controller, ErrNoCgroup)
}

// join maps a cgroup path to the fs path under mount m: the path is
// relative to the hierarchy's root, of which m shows the subtree m.Root.
// A path outside that subtree (a cgroup namespace boundary) maps to the
// mount point itself, the deepest directory visible.
func join(m Mount, cgPath string) (dir, top string) {
	top = strings.TrimPrefix(path.Clean(m.MountPoint), "/")
	if top == "" {
		top = "."
	}
	root := path.Clean(m.Root)
	var rel string
	switch {
	case root == "/":
		rel = cgPath
	case cgPath == root:
		rel = ""
	case strings.HasPrefix(cgPath, root+"/"):
		rel = cgPath[len(root):]
	default:
		return top, top
	}
	return path.Join(top, rel), top
}

// nearestCPUList reads the first of files found in dir or its ancestors up
// to top.
func nearestCPUList(fsys fs.FS, dir, top string, files []string) (string, []int, error) {
	for d := dir; ; d = path.Dir(d) {
		for _, f := range files {
			cpus, err := ReadCPUList(fsys, path.Join(d, f))
			if err == nil {
				return "/" + d, cpus, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "/" + d, nil, err
			}
		}
		if d == top || d == "." || d == "/" {
			return "", nil, fmt.Errorf("/%s/%s: %w", dir, files[0], fs.ErrNotExist)
		}
	}
}

// readQuota reads the CPU quota of one cgroup directory.
func readQuota(fsys fs.FS, dir string, version int) (float64, error) {
	if version == 2 {
		s, err := ReadString(fsys, path.Join(dir, "cpu.max"))
		if err != nil {
			return 0, err
		}
		q, err := ParseCPUMax(s)
		if err != nil {
			return 0, fmt.Errorf("/%s/cpu.max: %w", dir, err)
		}
		return q, nil
	}
	qs, err := ReadString(fsys, path.Join(dir, "cpu.cfs_quota_us"))
	if err != nil {
		return 0, err
	}
	ps, err := ReadString(fsys, path.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return 0, err
	}
	q, err := ParseCFSQuota(qs, ps)
	if err != nil {
		return 0, fmt.Errorf("/%s: %w", dir, err)
	}
	return q, nil
}
