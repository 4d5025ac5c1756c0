package sysx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MmapFile maps length bytes of the open file fd, read-only and shared
// (mmap(2), PROT_READ, MAP_SHARED). The mapping outlives fd.
func MmapFile(fd, length int) ([]byte, error) {
	b, err := unix.Mmap(fd, 0, length, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("sysx: mmap(fd %d, %d bytes): %w", fd, length, err)
	}
	return b, nil
}

// Munmap removes a mapping made by MmapFile (munmap(2)): any later access
// to it faults.
func Munmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("sysx: munmap(%d bytes): %w", len(b), err)
	}
	return nil
}
