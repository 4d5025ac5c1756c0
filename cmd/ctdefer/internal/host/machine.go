package host

import (
	"io/fs"
	"runtime"
	"runtime/debug"
	"strings"

	ctdhost "github.com/ctdefer/ctdefer/host"
)

// Machine describes the host and the process, for report headers.
type Machine struct {
	CPUModel    string `json:"cpu_model"`
	Online      []int  `json:"online_cpus"`
	NumCPU      int    `json:"num_cpu"`
	Allowed     []int  `json:"allowed_cpus"`
	Kernel      string `json:"kernel"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GoVersion   string `json:"go_version"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	Clocksource string `json:"clocksource,omitempty"`
	Ctdefer     string `json:"ctdefer_version"`
}

// ReadMachine gathers the Machine. Anything it cannot read is "" (or nil).
func ReadMachine(fsys fs.FS) Machine {
	m := Machine{
		NumCPU:     runtime.NumCPU(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GoVersion:  runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Ctdefer:    LibraryVersion(),
	}
	if f, err := fsys.Open(PathCPUInfo); err == nil {
		m.CPUModel = CPUModel(f)
		f.Close()
	}
	m.Online, _ = ReadCPUList(fsys, PathOnline)
	m.Allowed, _ = AllowedCPUs()
	if rel, err := ReadString(fsys, PathOSRelease); err == nil {
		typ, _ := ReadString(fsys, PathOSType)
		m.Kernel = strings.TrimSpace(typ + " " + rel)
	}
	m.Clocksource, _ = ReadString(fsys, PathClocksource)
	return m
}

// AllowedCPUs returns ctdefer's allowed set (host.AllowedCPUs: the
// affinity the process started with, on Linux; 0..NumCPU-1 elsewhere). The
// error return lets tests and other hosts stand in a failing probe.
func AllowedCPUs() ([]int, error) {
	cpus, _ := ctdhost.AllowedCPUs() // off Linux, the unpinned list
	return cpus, nil
}

// LibraryVersion is the version of module github.com/ctdefer/ctdefer
// built into the binary: a tag, a pseudo-version, or "(devel)" with the
// replace directive of a development build.
func LibraryVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/ctdefer/ctdefer" {
			if d.Replace != nil {
				return d.Version + " => " + d.Replace.Path
			}
			return d.Version
		}
	}
	return "unknown"
}
