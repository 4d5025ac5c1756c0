//go:build linux

package atomicx

import (
	"math"
	"time"
	"unsafe"

	"github.com/ctdefer/ctdefer/internal/sysx"
)

// futexOS needs nothing on Linux: the kernel keys the sleepers by address.
type futexOS struct{}

func (f *Futex) initOS() { f.os = futexOS{} }

// addr is the word's address for the futex system call. go.uber.org/atomic's
// Uint32 holds the uint32 as its only non-zero-size field, at offset 0.
func (f *Futex) addr() *uint32 { return (*uint32)(unsafe.Pointer(&f.v.v)) }

func (f *Futex) sleep(val uint32) { _ = sysx.FutexWait(f.addr(), val, -1) }

func (f *Futex) sleepFor(val uint32, d time.Duration) { _ = sysx.FutexWait(f.addr(), val, d) }

func (f *Futex) wake() { _, _ = sysx.FutexWake(f.addr(), math.MaxInt32) }
