package sysx

import "sync"

func cpuid(leaf uint32) (eax, ebx, ecx, edx uint32)

// tscAux executes RDTSCP and returns IA32_TSC_AUX, where Linux keeps
// (node << 12) | cpu for the vDSO's getcpu.
func tscAux() uint32

// fastCPU is getcpu without a system call: RDTSCP's TSC_AUX, as the vDSO's
// getcpu reads it (Go calls no vDSO getcpu, and a system call costs half a
// microsecond on a virtual machine). It reports false where the processor
// lacks RDTSCP or the kernel does not keep the CPU number there, which
// rdtscpWorks finds out once by comparing it with the system call.
func fastCPU() (int, bool) {
	if !rdtscpOnce() {
		return 0, false
	}
	return int(tscAux() & 0xfff), true
}

var rdtscpOnce = sync.OnceValue(rdtscpWorks)

// rdtscpWorks reports whether TSC_AUX names the CPU: the processor has
// RDTSCP, and three readings bracketed by two getcpu system calls that
// agree (no migration in between) agree with them. CPU numbers of 4096 and
// above do not fit TSC_AUX's 12 bits: a machine that has them keeps the
// system call.
func rdtscpWorks() bool {
	if max, _, _, _ := cpuid(0x80000000); max < 0x80000001 {
		return false
	}
	if _, _, _, edx := cpuid(0x80000001); edx&(1<<27) == 0 { // RDTSCP
		return false
	}
	agreed := 0
	for range 16 {
		a, err := getcpuSyscall()
		if err != nil || a >= 4096 {
			return false
		}
		b := int(tscAux() & 0xfff)
		c, err := getcpuSyscall()
		if err != nil || a != c {
			continue // migrated in between: try again
		}
		if b != a {
			return false
		}
		if agreed++; agreed == 3 {
			return true
		}
	}
	return false
}
