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

// idleWorkers starts a parked worker on each CPU of d, for the examples.
func idleWorkers(d *ctdefer.Domain) {
	for _, cpu := range d.CPUs() {
		if err := d.Go(cpu, func(c *ctdefer.CPU) {
			for !c.Closing() {
				_ = c.Idle(context.Background())
			}
		}); err != nil {
			panic(err)
		}
	}
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
