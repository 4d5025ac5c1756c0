//go:build !unix

package main

import "os/exec"

// ownGroup does nothing where there are no process groups: cancellation
// kills the go command only.
func ownGroup(*exec.Cmd) {}
