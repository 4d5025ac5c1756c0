package ctdefer_test

import (
	"context"
	"fmt"
	"runtime"

	"github.com/ctdefer/ctdefer"
)

// A controller delivers a configuration bump to a worker. While the worker is
// in its hot loop (user mode) the delivery is deferred, one compare-and-swap,
// and runs at the worker's next kernel entry; while it is in the kernel the
// delivery is an IPI, run at its next poll point.
func ExampleDomain_Defer() {
	// Unpinned keeps the example portable; real workers are pinned.
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	generation := 0
	bump, _ := d.Register("config-bump", func(cpu int) {
		generation++
		fmt.Printf("CPU %d applies generation %d\n", cpu, generation)
	})

	done := make(chan struct{})
	step, deliveredDeferred, deliveredIPI := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // the worker
		defer close(done)
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		defer c.Release()
		c.UserEnter() // hot loop: not to be disturbed
		step <- struct{}{}
		<-deliveredDeferred
		fmt.Println("hot loop ran undisturbed")
		c.KernelEnter() // the deferred bump runs here
		step <- struct{}{}
		<-deliveredIPI
		c.Poll() // the IPI runs here
	}()

	<-step
	how, _ := d.Defer(0, bump) // worker in user mode
	fmt.Println("first delivery:", how)
	deliveredDeferred <- struct{}{}
	<-step
	how, _ = d.Defer(0, bump) // worker in the kernel
	fmt.Println("second delivery:", how)
	deliveredIPI <- struct{}{}
	<-done

	st := d.Stats()
	fmt.Printf("deferred=%d ipis=%d executed=%d\n", st.Deferred, st.IPIs, st.Executed)
	_ = d.Close(context.Background())
	// Output:
	// first delivery: deferred
	// hot loop ran undisturbed
	// CPU 0 applies generation 1
	// second delivery: ipi
	// CPU 0 applies generation 2
	// deferred=1 ipis=1 executed=2
}

// DeferWait returns once the work has run on its CPU. Work registered
// RemoteSafe is run by the caller itself when the CPU is parked, so the
// parked worker is not woken.
func ExampleDomain_DeferWait() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	flushed := 0
	flush, _ := d.Register("flush", func(int) { flushed++ }, ctdefer.RemoteSafe())

	parked := make(chan struct{})
	done := make(chan error)
	go func() {
		c, err := d.Claim(0)
		if err != nil {
			panic(err)
		}
		close(parked)
		done <- c.Idle(context.Background()) // parked until Close
		_ = c.Release()
	}()
	<-parked
	for d.Stats().CPUs[0].State != "idle" { // parked
		runtime.Gosched()
	}
	if err := d.DeferWait(context.Background(), 0, flush); err != nil {
		panic(err)
	}
	st := d.Stats()
	fmt.Printf("flushed=%d on-behalf=%d ipis=%d\n", flushed, st.OnBehalf, st.IPIs)
	closeErr := make(chan error)
	go func() { closeErr <- d.Close(context.Background()) }()
	fmt.Println("Idle:", <-done)
	fmt.Println("Close:", <-closeErr)
	// Output:
	// flushed=1 on-behalf=1 ipis=0
	// Idle: ctdefer: domain closed
	// Close: <nil>
}
