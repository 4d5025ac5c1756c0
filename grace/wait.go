package grace

import (
	"context"

	"github.com/ctdefer/ctdefer/internal/percpu"
)

// await calls done until it reports true or ctx ends, and returns nil or
// ctx's error (percpu.Waiter, which honours ctx in its spin and its sleeps).
// It spins for Options.SpinWait, yielding the processor between rounds:
// waiters are ordinary goroutines, and the CPUs they wait for may need a P
// to make progress. Then it sleeps, from a microsecond to a millisecond at a
// time. Callers check done once first.
func (g *Domain) await(ctx context.Context, done func() bool) error {
	return percpu.Waiter{Spin: g.spin, Yield: true}.Until(ctx, done)
}
