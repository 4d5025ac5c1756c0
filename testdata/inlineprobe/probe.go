// Package inlineprobe calls the owner's hot-path methods of package ctdefer
// from another package, as a user's loop does, so that
// TestIntendedInlining can read the compiler's inlining decisions.
package inlineprobe

import "github.com/ctdefer/ctdefer"

func Poll(c *ctdefer.CPU) bool { return c.Poll() }
