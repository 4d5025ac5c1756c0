//go:build !ctdefer_explore

package grace

const mutation = mutNone
