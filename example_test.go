package ctdefer_test

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/host"
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

// Go runs a worker's whole life: claim, loop, release, even if the loop
// panics. Here the worker parks between deliveries, so the example needs no
// spare core.
func ExampleDomain_Go() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	hello, _ := d.Register("hello", func(cpu int) { fmt.Println("hello from CPU", cpu) })
	err = d.Go(0, func(c *ctdefer.CPU) {
		for !c.Closing() {
			_ = c.Idle(context.Background()) // a real worker: UserEnter, hot loop, KernelEnter
		}
		fmt.Println("worker done; Go releases CPU", c.CPU())
	})
	fmt.Println("Go:", err)
	if err := d.DeferWait(context.Background(), 0, hello); err != nil {
		panic(err)
	}
	fmt.Println("Close:", d.Close(context.Background())) // waits for the worker's release
	// Output:
	// Go: <nil>
	// hello from CPU 0
	// worker done; Go releases CPU 0
	// Close: <nil>
}

// DeferAll pushes one work to every claimed CPU and says how it reached
// each; unclaimed CPUs are skipped.
func ExampleDomain_DeferAll() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1, 2}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	var seen [3]int // each written by its own CPU
	push, _ := d.Register("config-push", func(cpu int) { seen[cpu]++ })
	for _, cpu := range []int{0, 2} { // CPU 1 has no worker
		if err := d.Go(cpu, func(c *ctdefer.CPU) {
			for !c.Closing() {
				_ = c.Idle(context.Background())
			}
		}); err != nil {
			panic(err)
		}
	}
	outs, err := d.DeferAll(push)
	for _, o := range outs {
		fmt.Printf("CPU %d: %v %v\n", o.CPU, o.Delivery, o.Err)
	}
	fmt.Println("error:", err)
	_ = d.Close(context.Background()) // the workers run what is pending as they release
	fmt.Println("runs per CPU:", seen)
	// Output:
	// CPU 0: ipi <nil>
	// CPU 2: ipi <nil>
	// error: <nil>
	// runs per CPU: [1 0 1]
}

// DeferWaitAll returns once every worker has run the work: after it, each
// CPU has seen the new configuration.
func ExampleDomain_DeferWaitAll() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0, 1}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	config := 1
	var applied [2]int // each written by its own CPU
	push, _ := d.Register("config-push", func(cpu int) { applied[cpu] = config })
	idleWorkers(d)

	config = 2 // written before the push: every handler sees it
	outs, err := d.DeferWaitAll(context.Background(), push)
	if err != nil {
		for _, o := range outs {
			if o.Err != nil {
				fmt.Println("failed on CPU", o.CPU, o.Err)
			}
		}
		panic(err)
	}
	for _, o := range outs {
		fmt.Printf("CPU %d: %v, applied config %d\n", o.CPU, o.Delivery, applied[o.CPU])
	}
	_ = d.Close(context.Background())
	// Output:
	// CPU 0: ipi, applied config 2
	// CPU 1: ipi, applied config 2
}

// Stats holds the totals, each CPU's counters and each work's: here the
// per-work counters say how the work reached its CPU.
func ExampleDomain_Stats() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	flush, _ := d.Register("flush", func(int) {}, ctdefer.RemoteSafe())
	idleWorkers(d)
	for d.Stats().CPUs[0].State != "idle" { // parked
		runtime.Gosched()
	}
	_ = d.DeferWait(context.Background(), 0, flush) // parked: run on its behalf
	_ = d.Close(context.Background())
	st := d.Stats()
	fmt.Printf("executed=%d on-behalf=%d\n", st.Executed, st.OnBehalf)
	fmt.Printf("CPU %d: claimed=%v executed=%d\n", st.CPUs[0].CPU, st.CPUs[0].Claimed, st.CPUs[0].Executed)
	fmt.Printf("%+v\n", st.Works[0])
	// Output:
	// executed=1 on-behalf=1
	// CPU 0: claimed=false executed=1
	// {Name:flush Deferred:0 IPIs:0 IPIRuns:0 OnBehalf:1 Flushed:0 Runs:1}
}

// Stats encodes to JSON: published with expvar.Func, /debug/vars serves
// the Domain's statistics, live. An exporter for another system
// (Prometheus text format here, written by hand: the library depends on
// none) reads Stats' fields.
func ExampleDomain_Stats_expvar() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	if err != nil {
		panic(err)
	}
	bump, _ := d.Register("bump", func(int) {})
	idleWorkers(d)
	_ = d.DeferWait(context.Background(), 0, bump)
	_ = d.Close(context.Background())

	// In a program:
	//	expvar.Publish("ctdefer", expvar.Func(func() any { return d.Stats() }))
	// A Map keeps the example from registering a process-wide name.
	vars := new(expvar.Map).Init()
	vars.Set("ctdefer", expvar.Func(func() any { return d.Stats() }))
	var decoded struct {
		Executed, IPIs uint64
		Works          []struct {
			Name string
			Runs uint64
		}
	}
	if err := json.Unmarshal([]byte(vars.Get("ctdefer").String()), &decoded); err != nil {
		panic(err)
	}
	fmt.Printf("expvar: executed=%d ipis=%d works=%v\n", decoded.Executed, decoded.IPIs, decoded.Works)

	st := d.Stats()
	for _, w := range st.Works {
		fmt.Printf("ctdefer_work_runs_total{work=%q} %d\n", w.Name, w.Runs)
	}
	for _, c := range st.CPUs {
		fmt.Printf("ctdefer_ipi_latency_seconds_count{cpu=\"%d\"} %d\n", c.CPU, c.IPILatency.Total())
	}
	// Output:
	// expvar: executed=1 ipis=1 works=[{bump 1}]
	// ctdefer_work_runs_total{work="bump"} 1
	// ctdefer_ipi_latency_seconds_count{cpu="0"} 1
}

// With a Logger, the events an operator needs are logged: here Close hands
// back work posted to a CPU no worker held.
func ExampleOptions_logger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	}))
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, Logger: logger})
	if err != nil {
		panic(err)
	}
	reload, _ := d.Register("reload", func(int) {})
	_, _ = d.Defer(0, reload) // nobody claimed CPU 0: an IPI that waits in its mailbox
	_ = d.Close(context.Background())
	// Output:
	// level=WARN msg="ctdefer: Close handed work back, never run" cpu=0 work=reload err="ctdefer: CPU 0: posted while no worker held it: ctdefer: domain closed"
}

// RequireHeadroom refuses a claim that would leave no GOMAXPROCS headroom
// (without it, the claim succeeds and is counted in Stats.NoHeadroom).
func ExampleOptions_requireHeadroom() {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: one worker takes it all
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true, RequireHeadroom: true})
	if err != nil {
		panic(err)
	}
	err = d.Go(0, func(*ctdefer.CPU) {})
	fmt.Println("refused:", errors.Is(err, host.ErrNoHeadroom), "claimed:", d.Stats().CPUs[0].Claimed)
	_ = d.Close(context.Background())
	// Output:
	// refused: true claimed: false
}

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

// How loud is the Go runtime on a worker's core? Two snapshots taken an
// interval apart give, per claimed CPU, the owner thread's context switches
// in between (voluntary ones are Go preemptions and P hand-offs on a locked
// thread; involuntary ones the kernel's), and the process's GC cycles and
// stop-the-world time: each stop halts every hot loop. On a quiet core all
// of them stay at zero. (Not run: the figures depend on the machine.)
func ExampleDomain_Stats_noise() {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(context.Background())
	_ = d.Go(1, func(c *ctdefer.CPU) {
		for !c.Closing() {
			c.UserEnter()
			for range 1 << 20 {
				c.Poll() // the hot loop
			}
			c.KernelEnter()
		}
	})

	before := d.Stats()
	time.Sleep(time.Second)
	after := d.Stats()
	for i, c := range after.CPUs {
		fmt.Printf("CPU %d: %d voluntary, %d involuntary switches/s\n", c.CPU,
			c.OwnerVoluntarySwitches-before.CPUs[i].OwnerVoluntarySwitches,
			c.OwnerInvoluntarySwitches-before.CPUs[i].OwnerInvoluntarySwitches)
	}
	fmt.Printf("GC: %d cycles, %v stopped\n", after.GCCycles-before.GCCycles, after.GCPauses-before.GCPauses)
}

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
