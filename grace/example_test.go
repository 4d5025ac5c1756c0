package grace_test

import (
	"context"
	"fmt"
	"sync/atomic"
)

// An updater replaces a published configuration and waits for a grace
// period before reusing the old one: no CPU can still be using it.
func ExampleDomain_Synchronize() {
	_, g, stop := exampleWorld()
	defer stop()
	var cur atomic.Pointer[config]
	cur.Store(&config{version: 1})

	old := cur.Swap(&config{version: 2})
	if err := g.Synchronize(context.Background()); err != nil {
		panic(err)
	}
	old.version = -1 // safe: every reader of the old one has finished
	fmt.Println("current version", cur.Load().version)
	fmt.Println("grace periods:", g.Stats().GracePeriods, "nudges:", g.Stats().Nudges)
	// Output:
	// current version 2
	// grace periods: 1 nudges: 0
}

// The polling form: take a token, do other work, check it later without
// blocking.
func ExampleDomain_Start() {
	_, g, stop := exampleWorld()
	defer stop()
	tok := g.Start()
	// ... other work ...
	fmt.Println("grace period over:", g.Poll(tok))
	// Output:
	// grace period over: true
}

// Retire frees an object after a grace period, without blocking the
// updater; Barrier waits for everything retired so far.
func ExampleDomain_Retire() {
	_, g, stop := exampleWorld()
	defer stop()
	var cur atomic.Pointer[config]
	cur.Store(&config{version: 1})
	for v := 2; v <= 4; v++ {
		old := cur.Swap(&config{version: v})
		if err := g.Retire(func() { fmt.Println("freed version", old.version) }); err != nil {
			panic(err)
		}
	}
	if err := g.Barrier(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// freed version 1
	// freed version 2
	// freed version 3
}

// The expedited barrier skips CPUs in user mode or idle: no IPI here.
func ExampleDomain_ExpeditedBarrier() {
	d, g, stop := exampleWorld()
	defer stop()
	if err := g.ExpeditedBarrier(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("IPIs:", d.Stats().IPIs)
	// Output:
	// IPIs: 0
}
