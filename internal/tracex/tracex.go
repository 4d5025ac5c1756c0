// Package tracex wraps runtime/trace for ctdefer's packages: tasks and
// regions that cost one check (trace.IsEnabled) when no trace is being
// recorded, so that they may sit on any path but the fastest.
//
// Names follow one pattern, so that go tool trace groups them: a task is
// named after the package and the call ("ctdefer.DeferWait",
// "grace.Synchronize"), a region after its task and the phase
// ("ctdefer.Close: wait for workers").
package tracex

import (
	"context"
	"runtime/trace"
)

// Enabled reports whether a trace is being recorded (trace.IsEnabled).
// Check it before building the arguments of Logf.
func Enabled() bool { return trace.IsEnabled() }

// nop is the end function handed out when no trace is being recorded.
func nop() {}

// Task starts a task named name, a child of ctx's task if it has one, when
// a trace is being recorded, and returns the context that carries it and
// the function that ends it. Otherwise it returns ctx and a no-op, and
// allocates nothing. Call end on every path (defer end()).
func Task(ctx context.Context, name string) (context.Context, func()) {
	if !trace.IsEnabled() {
		return ctx, nop
	}
	ctx, t := trace.NewTask(ctx, name)
	return ctx, t.End
}

// Region starts a region named name in ctx's task when a trace is being
// recorded and returns the function that ends it (a no-op otherwise). A
// region must end on the goroutine that started it.
func Region(ctx context.Context, name string) (end func()) {
	if !trace.IsEnabled() {
		return nop
	}
	return trace.StartRegion(ctx, name).End
}

// Logf records a log event in ctx's task when a trace is being recorded.
// Its arguments are built even when none is: guard calls on paths that
// matter with Enabled.
func Logf(ctx context.Context, category, format string, args ...any) {
	if trace.IsEnabled() {
		trace.Logf(ctx, category, format, args...)
	}
}
