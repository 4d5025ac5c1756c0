package grace_test

import (
	"context"
	"fmt"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/grace"
)

// A worker reads the routing table in its user-mode hot loop and reports
// once per burst; the controller replaces the table and frees the old one
// after a grace period. (One unpinned CPU, so that the example runs
// anywhere.)
func ExampleNewQSBR() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	q, err := grace.NewQSBR(d, grace.Options{})
	if err != nil {
		panic(err)
	}
	table := grace.NewPointer(q, &route{hops: []int{1, 2}})

	stop, done := make(chan struct{}), make(chan int)
	go func() {
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		defer c.Release()
		r := q.Reader(c) // online: holds references until it reports
		c.UserEnter()
		bad := 0
		for running := true; running; {
			select {
			case <-stop:
				running = false
			default:
			}
			t := table.Load() // held for the whole burst
			for range 64 {
				if t.dead {
					bad++ // a use after reclaim: never happens
				}
			}
			r.Quiescent() // holds nothing here
		}
		r.Offline()
		c.KernelEnter()
		done <- bad
	}()

	for i := range 100 {
		if _, err := table.SwapAndRetire(&route{hops: []int{i}}, func(old *route) { old.dead = true }); err != nil {
			panic(err)
		}
	}
	if err := q.Close(context.Background()); err != nil { // runs every retired free
		panic(err)
	}
	close(stop)
	fmt.Println("uses after reclaim:", <-done)
	fmt.Println("tables reclaimed:", q.Stats().Reclaimed)
	_ = d.Close(context.Background())
	// Output:
	// uses after reclaim: 0
	// tables reclaimed: 100
}
