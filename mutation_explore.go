//go:build ctdefer_explore

package ctdefer

import "fmt"

// mutation is the active mutant of an explorer run (mutation.go).
var mutation = mutNone

// ExploreMutate switches the delivery path to a deliberately broken variant,
// for the interleaving explorer's mutant runs, and returns a function that
// switches it back. It exists only under the ctdefer_explore build tag.
// Names: "none", "double-delivery".
func ExploreMutate(name string) (undo func()) {
	m, ok := map[string]mutationKind{
		"none":            mutNone,
		"double-delivery": mutDoubleDelivery,
	}[name]
	if !ok {
		panic(fmt.Sprintf("ctdefer: ExploreMutate(%q): no such mutant", name))
	}
	old := mutation
	mutation = m
	return func() { mutation = old }
}
