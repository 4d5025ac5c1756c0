//go:build !ctdefer_explore

package ctdefer

const mutation = mutNone
