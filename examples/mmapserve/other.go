//go:build !linux

package main

import (
	"fmt"
	"runtime"

	"github.com/ctdefer/ctdefer"
)

func run(cfg config) (*report, error) {
	return nil, fmt.Errorf("needs Linux (mmap, munmap and membarrier); this is %s: %w", runtime.GOOS, ctdefer.ErrNotSupported)
}
