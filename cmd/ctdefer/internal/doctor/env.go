package doctor

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
	"github.com/ctdefer/ctdefer/internal/membarrier"
)

// Config is what the user asked for.
type Config struct {
	// CPUs are the candidate CPUs, those the workers would be pinned to.
	// Nil: the isolated CPUs of the allowed set if there are any, else the
	// allowed set but its first CPU (left to the runtime and the OS), else
	// the allowed set.
	CPUs []int
	// Workers is the planned number of pinned workers; 0 means one per
	// candidate CPU.
	Workers int
	// Noise is how long the noise test runs on each candidate CPU; 0 skips it.
	Noise time.Duration
	// Runtime is how long the pinned loop runs in each Go runtime
	// scenario (Scenarios); 0 skips them.
	Runtime time.Duration
	// Threshold is the gap the noise test counts: an iteration of its loop
	// longer than this was an interruption. Zero means DefaultThreshold.
	Threshold time.Duration
}

// DefaultThreshold is the noise test's default gap threshold.
const DefaultThreshold = 10 * time.Microsecond

// Env is the host as the checks see it: its files and its live probes.
// Tests replace every field.
type Env struct {
	FS         fs.FS                                       // the host's "/"
	GOOS       string                                      // runtime.GOOS
	GOMAXPROCS int                                         // this process's, as the user's program would get it
	Allowed    func() ([]int, error)                       // ctdefer's allowed set
	Membarrier func() MembarrierProbe                      // nil: unknown
	Noise      func(NoiseRequest) (NoiseResult, error)     // nil: unknown
	Runtime    func(RuntimeRequest) (RuntimeResult, error) // nil: unknown
	Machine    func() host.Machine                         // nil: none in the report
}

// LiveEnv is the running host.
func LiveEnv() Env {
	fsys := os.DirFS("/")
	return Env{
		FS:         fsys,
		GOOS:       runtime.GOOS,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Allowed:    host.AllowedCPUs,
		Membarrier: ProbeMembarrier,
		Noise:      func(r NoiseRequest) (NoiseResult, error) { return MeasureNoise(fsys, r) },
		Runtime: func(r RuntimeRequest) (RuntimeResult, error) {
			exe, err := os.Executable()
			if err != nil {
				if exe = os.Args[0]; exe == "" {
					return RuntimeResult{}, errNoExecutable
				}
			}
			return RunScenario(exe, r)
		},
		Machine: func() host.Machine { return host.ReadMachine(fsys) },
	}
}

// MembarrierProbe is what the membarrier package says about this kernel
// and process.
type MembarrierProbe struct {
	// Supported: the commands the kernel supports (MEMBARRIER_CMD_QUERY).
	Supported    []string
	SupportedErr error
	// HasPrivateExpedited: MEMBARRIER_CMD_PRIVATE_EXPEDITED is supported.
	HasPrivateExpedited bool
	// RegisterErr: Register(CmdPrivateExpedited); BarrierErr: one
	// PrivateExpedited call after it.
	RegisterErr, BarrierErr error
	// Registrations: the process's registrations after Register
	// (Linux 6.3); RegistrationsErr why they are unknown.
	Registrations    []string
	RegistrationsErr error
	// NotSupported: the platform or kernel has no membarrier at all.
	NotSupported bool
}

// ProbeMembarrier asks the kernel, through package membarrier, which
// commands it supports, registers this process for the private expedited
// barrier (permanent, harmless) and issues one.
func ProbeMembarrier() MembarrierProbe {
	var p MembarrierProbe
	cmds, err := membarrier.Query()
	if err != nil {
		p.SupportedErr = err
		p.NotSupported = errors.Is(err, ctdefer.ErrNotSupported)
		return p
	}
	// The register commands go with their barriers: leave them out.
	for _, c := range splitCommands(cmds.String()) {
		if !strings.HasPrefix(c, "REGISTER_") {
			p.Supported = append(p.Supported, c)
		}
	}
	p.HasPrivateExpedited = cmds.Has(membarrier.CmdPrivateExpedited)
	if p.RegisterErr = membarrier.RegisterPrivateExpedited(); p.RegisterErr == nil {
		p.BarrierErr = membarrier.PrivateExpedited()
	}
	if regs, err := membarrier.Registrations(); err != nil {
		p.RegistrationsErr = err
	} else {
		p.Registrations = splitCommands(regs.String())
	}
	return p
}

// splitCommands turns "MEMBARRIER_CMD_A|MEMBARRIER_CMD_B" into short names.
func splitCommands(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, c := range strings.Split(s, "|") {
		out = append(out, strings.TrimPrefix(c, "MEMBARRIER_CMD_"))
	}
	return out
}
