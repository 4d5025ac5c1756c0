package doctor

import (
	"errors"
	"fmt"
	"strings"
)

// checkMembarrier: which membarrier commands the kernel has, and whether
// this process can register for and issue the private expedited one.
func (st *state) checkMembarrier() []Check {
	const idSup, nameSup = "membarrier-supported", "membarrier commands supported"
	const idReg, nameReg = "membarrier-registered", "membarrier registration"
	fixSup := "Linux 4.14 or later with CONFIG_MEMBARRIER (only the membarrier baseline of bench needs it; package grace does not)"
	fixReg := "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED before the first MEMBARRIER_CMD_PRIVATE_EXPEDITED; a seccomp profile may forbid the system call"
	if st.env.Membarrier == nil {
		why := errors.New("not probed")
		return []Check{unknown(idSup, GroupKernel, nameSup, why, fixSup), unknown(idReg, GroupKernel, nameReg, why, fixReg)}
	}
	p := st.env.Membarrier()
	if p.SupportedErr != nil {
		why := p.SupportedErr
		if p.NotSupported && st.env.GOOS != "linux" {
			why = fmt.Errorf("membarrier is Linux only (%s)", st.env.GOOS)
		}
		sup := unknown(idSup, GroupKernel, nameSup, why, fixSup)
		if p.NotSupported && st.env.GOOS == "linux" {
			sup.Status, sup.Found = Warn, "not supported: "+why.Error()
		}
		return []Check{sup, unknown(idReg, GroupKernel, nameReg, why, fixReg)}
	}
	sup := Check{ID: idSup, Group: GroupKernel, Name: nameSup, Found: strings.Join(p.Supported, ", "), Status: OK}
	if !p.HasPrivateExpedited {
		sup.Status, sup.Fix = Warn, fixSup
		sup.Found = "no PRIVATE_EXPEDITED; supported: " + sup.Found
	}
	reg := Check{ID: idReg, Group: GroupKernel, Name: nameReg, Status: OK}
	switch {
	case !p.HasPrivateExpedited:
		reg.Status, reg.Found = Unknown, "unknown: PRIVATE_EXPEDITED not supported"
	case p.RegisterErr != nil:
		reg.Status, reg.Fix, reg.Found = Fail, fixReg, "Register(PRIVATE_EXPEDITED): "+p.RegisterErr.Error()
	case p.BarrierErr != nil:
		reg.Status, reg.Fix, reg.Found = Fail, fixReg, "registered, but PrivateExpedited: "+p.BarrierErr.Error()
	default:
		reg.Found = "registered PRIVATE_EXPEDITED; a barrier succeeded"
		if p.RegistrationsErr == nil {
			reg.Found += "; process registrations: " + strings.Join(p.Registrations, ", ")
		} else {
			reg.Found += "; registrations unknown (GET_REGISTRATIONS needs Linux 6.3)"
		}
	}
	return []Check{sup, reg}
}
