package ctdefer_test

import (
	"context"
	"fmt"

	"github.com/ctdefer/ctdefer"
)

// A controller asks a worker to run its own scheduler. A lazy request does
// not disturb the worker's preemption points; it is honoured when the worker
// returns to user mode, or promoted by its next tick. A full request is
// honoured at the next preemption point.
func ExampleDomain_Resched() {
	// Unpinned keeps the example portable; real workers are pinned.
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	defer d.Close(context.Background())
	step, sent := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { // the worker
		defer close(done)
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		defer c.Release()

		step <- struct{}{}
		<-sent // a lazy request is pending
		fmt.Println("preemption point:", c.NeedResched())
		fmt.Println("return to user:", c.NeedReschedBeforeUser(), "- reschedule:", c.ClearResched())
		c.UserEnter()

		step <- struct{}{}
		<-sent // another lazy request, while in user mode
		fmt.Println("tick promotes:", c.Tick(), "- reschedule:", c.ClearResched())

		step <- struct{}{}
		<-sent // a full request
		fmt.Println("preemption point:", c.NeedResched(), "- reschedule:", c.ClearResched())
		c.KernelEnter()
	}()
	for _, level := range []ctdefer.ReschedLevel{ctdefer.ReschedLazy, ctdefer.ReschedLazy, ctdefer.ReschedFull} {
		<-step
		if err := d.Resched(0, level); err != nil {
			panic(err)
		}
		sent <- struct{}{}
	}
	<-done
	// Output:
	// preemption point: false
	// return to user: true - reschedule: lazy
	// tick promotes: true - reschedule: full
	// preemption point: true - reschedule: full
}
