package ctdefer_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ctdefer/ctdefer"
)

// A controller hands a worker values: flows to add to its table. A batch
// sent while the worker is in its hot loop costs one deferral and runs, in
// order, at the worker's next kernel entry; SendWait returns once its value
// has run. A full queue refuses the whole batch with ErrFull.
func ExampleNewQueue() {
	// Unpinned keeps the example portable; real workers are pinned.
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	table := map[string]bool{}
	flows, err := ctdefer.NewQueue(d, "add-flow", 4, func(cpu int, flow string) {
		table[flow] = true // owner-only state: no lock
		fmt.Printf("CPU %d adds %s\n", cpu, flow)
	})
	if err != nil {
		panic(err)
	}

	inUser, sent, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stop := make(chan struct{})
	go func() { // the worker
		defer close(done)
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		defer c.Release()
		c.UserEnter() // hot loop: not to be disturbed
		inUser <- struct{}{}
		<-sent
		c.KernelEnter() // the batch runs here
		for {
			select {
			case <-stop:
				return
			default:
				c.Poll() // IPIs (SendWait's value) run here
			}
		}
	}()

	<-inUser
	how, _ := flows.Send(0, "10.0.0.1:80", "10.0.0.2:443", "10.0.0.3:22")
	fmt.Println("batch:", how)
	_, err = flows.Send(0, "a", "b")
	fmt.Println("too many:", errors.Is(err, ctdefer.ErrFull))
	sent <- struct{}{}
	if err := flows.SendWait(context.Background(), 0, "10.0.0.4:53"); err != nil {
		panic(err)
	}
	fmt.Println("SendWait returned")
	close(stop)
	<-done
	fmt.Println("flows:", len(table))
	_ = d.Close(context.Background())
	// Output:
	// batch: deferred
	// too many: true
	// CPU 0 adds 10.0.0.1:80
	// CPU 0 adds 10.0.0.2:443
	// CPU 0 adds 10.0.0.3:22
	// CPU 0 adds 10.0.0.4:53
	// SendWait returned
	// flows: 4
}
