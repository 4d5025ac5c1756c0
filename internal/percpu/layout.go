package percpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// CacheLine is the padding unit between groups of fields written by
// different parties: x/sys/cpu's CacheLinePad, 64 bytes on amd64 and 386,
// 128 on arm64 and ppc64 (where adjacent-line prefetch makes 64 too
// little). CacheLinePad is empty on wasm (no shared-memory threads): 64
// keeps the padding arithmetic from dividing by zero.
//
// The pattern: each group is a struct that starts with its 64-bit atomics,
// followed by a blank array that pads it to a whole number of lines, the
// padding computed from the group's own size (Go cannot compute it from a
// type parameter: unsafe.Sizeof of one is not a constant):
//
//	type slot struct {
//		wordLine
//		_ [(percpu.CacheLine - unsafe.Sizeof(wordLine{})%percpu.CacheLine) % percpu.CacheLine]byte
//		mboxLine
//		_ [(percpu.CacheLine - unsafe.Sizeof(mboxLine{})%percpu.CacheLine) % percpu.CacheLine]byte
//	}
//
// Every group then starts at a multiple of the line, so groups never share
// a line when the structure is line-aligned (a slice of them: the
// allocator aligns objects of 512 bytes and more to 64), and every 64-bit
// atomic stays 8-byte aligned on 32-bit platforms. Each package checks both
// in a test.
const CacheLine = max(unsafe.Sizeof(cpu.CacheLinePad{}), 64)

// NoCopy makes go vet's copylocks check report copies of the struct that
// holds it: embed it as a blank field, first (a trailing zero-size field
// would pad the struct).
type NoCopy struct{}

// Lock is a no-op that lets go vet's copylocks check see NoCopy.
func (*NoCopy) Lock() {}

// Unlock is a no-op that lets go vet's copylocks check see NoCopy.
func (*NoCopy) Unlock() {}
