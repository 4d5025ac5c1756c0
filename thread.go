package ctdefer

import "github.com/ctdefer/ctdefer/internal/sysx"

// currentCPU returns the CPU the calling thread runs on.
func currentCPU() (int, error) { return sysx.CurrentCPU() }

func gettid() int { return sysx.Gettid() }
