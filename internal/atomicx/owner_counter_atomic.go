//go:build race || ctdefer_explore || !(amd64 || arm64 || ppc64 || ppc64le || riscv64 || s390x || loong64 || mips64 || mips64le)

package atomicx

import "sync/atomic"

// Inc atomically adds one (see OwnerCounter for when it is plain).
func (c *OwnerCounter) Inc() { atomic.AddUint64(&c.v, 1) }

// Add atomically adds delta.
func (c *OwnerCounter) Add(delta uint64) { atomic.AddUint64(&c.v, delta) }

// Load atomically reads the count.
func (c *OwnerCounter) Load() uint64 { return atomic.LoadUint64(&c.v) }
