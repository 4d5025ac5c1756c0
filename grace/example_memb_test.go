package grace_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/ctdefer/ctdefer/grace"
)

type settings struct {
	limit int
	freed bool // set when the settings are reclaimed
}

// Goroutines read the current settings inside read-side sections; an updater
// replaces it and frees the old one only after a grace period, when no
// section that could have loaded it is still running.
func ExampleNewMemb() {
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		panic(err)
	}
	cfg := grace.NewPointer(g, &settings{limit: 1})

	var wg sync.WaitGroup
	bad := make([]int, 8)
	for i := range bad {
		h, err := g.Register() // one Handle per reading goroutine
		if err != nil {
			panic(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.Unregister()
			for range 1000 {
				h.Lock()
				if c := cfg.Load(); c.freed { // valid until Unlock
					bad[i]++
				}
				h.Unlock()
			}
		}()
	}
	for n := 2; n <= 100; n++ {
		old := cfg.Swap(&settings{limit: n})
		if err := g.Synchronize(context.Background()); err != nil {
			panic(err)
		}
		old.freed = true // no reader can hold old any more
	}
	wg.Wait()
	total := 0
	for _, b := range bad {
		total += b
	}
	fmt.Println("limit:", cfg.Load().limit, "reads of freed settings:", total)
	// Output: limit: 100 reads of freed settings: 0
}

// Register hands a goroutine its Handle; Lock and Unlock bracket each
// read-side section, and sections nest.
func ExampleDomain_Register() {
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		panic(err)
	}
	h, err := g.Register()
	if err != nil {
		panic(err)
	}
	defer h.Unregister()
	h.Lock()
	h.Lock() // nested: the section ends at the outermost Unlock
	//lint:ignore SA2001 the example shows nesting, with nothing inside
	h.Unlock()
	h.Unlock()
	fmt.Println("readers:", g.Stats().Readers)
	// Output: readers: 1
}
