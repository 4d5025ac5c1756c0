package host

import (
	"os"
	"testing"
)

func TestReadMachine(t *testing.T) {
	m := ReadMachine(os.DirFS("testdata/hosts/tuned"))
	if m.CPUModel != "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" || m.Kernel != "Linux 6.8.0-45-generic" || len(m.Online) != 8 {
		t.Errorf("machine: %+v", m)
	}
	if m.GoVersion == "" || m.NumCPU < 1 {
		t.Errorf("process fields: %+v", m)
	}
	empty := ReadMachine(os.DirFS("testdata/hosts/empty"))
	if empty.CPUModel != "" || empty.Kernel != "" || empty.Online != nil {
		t.Errorf("empty host: %+v", empty)
	}
}
