//go:build race

package ctdefer_test

const raceEnabled = true
