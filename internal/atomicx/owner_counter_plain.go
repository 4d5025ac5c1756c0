//go:build !race && !ctdefer_explore && (amd64 || arm64 || ppc64 || ppc64le || riscv64 || s390x || loong64 || mips64 || mips64le)

package atomicx

import "sync/atomic"

// Inc adds one: a plain increment, owner only (see OwnerCounter).
func (c *OwnerCounter) Inc() { c.v++ }

// Add adds delta: a plain addition, owner only (see OwnerCounter).
func (c *OwnerCounter) Add(delta uint64) { c.v += delta }

// Load reads the count atomically, from any goroutine.
func (c *OwnerCounter) Load() uint64 { return atomic.LoadUint64(&c.v) }
