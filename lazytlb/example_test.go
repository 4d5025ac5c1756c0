package lazytlb_test

import (
	"context"
	"fmt"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// A worker keeps an address space loaded while it runs other work (lazy);
// a shootdown then marks it instead of interrupting it, and the worker
// flushes when it switches back.
func ExampleTLB_Shootdown() {
	// Unpinned keeps the example portable; real workers are pinned.
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: func(cpu int, mm *lazytlb.MM, gen uint64) {
		fmt.Printf("CPU %d flushes the routes to generation %d\n", cpu, gen)
	}})
	if err != nil {
		panic(err)
	}
	table := tlb.NewMM("routes")

	lazy, shotDown, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // the worker
		defer close(done)
		c, _ := d.Claim(0)
		defer c.Release()
		tc, _ := tlb.Attach(c)
		tc.SwitchTo(table) // uses the table
		tc.EnterLazy()     // runs other work, keeping it loaded
		lazy <- struct{}{}
		<-shotDown
		fmt.Println("marked for a flush:", tlb.State(0) == lazytlb.Flush)
		tc.SwitchTo(table) // switches back: flushes before using the table again
		tc.Leave()
	}()

	<-lazy
	r, _ := tlb.Shootdown(context.Background(), table)
	fmt.Printf("IPIs sent: %d, lazy CPUs marked: %d\n", r.IPIs, r.Marked)
	shotDown <- struct{}{}
	<-done
	_ = d.Close(context.Background())
	// Output:
	// IPIs sent: 0, lazy CPUs marked: 1
	// marked for a flush: true
	// CPU 0 flushes the routes to generation 1
}
