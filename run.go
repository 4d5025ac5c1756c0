package ctdefer

import "fmt"

// Go starts a worker for cpu: a new goroutine that claims cpu (with opts,
// as Claim does, on its own thread), runs loop with the owner handle, and
// releases the CPU when loop ends, however it ends. Go waits for the claim
// and returns its error (ErrCPUBusy, an *ArgError, ErrClosed, host.ErrNoHeadroom,
// ...; then loop never runs), or an *ArgError (ErrInvalid) for a nil loop. Once Go has
// returned nil, the CPU is claimed and loop is running or about to.
//
// The release is how Release does it: pending deferred work and IPIs run,
// the affinity is restored, the CPU is given up. It happens when loop
// returns, and also when it panics or calls runtime.Goexit; a panic then
// continues after the release, with its own stack, and like any panic that
// no goroutine recovers it ends the program (recover inside loop to keep
// the worker's panics from doing so). With Options.Logger, a loop that did
// not return is logged, and so is a Release error (its affinity could not
// be restored). loop may call c.Release itself, as its last use of c: Go
// then does not release again.
//
// Close waits for every worker to release, so a worker loop should end when
// c.Closing() reports true (Idle returns ErrClosed then). The goroutine
// ends right after its release.
//
//	err := d.Go(cpu, func(c *ctdefer.CPU) {
//		for !c.Closing() {
//			c.UserEnter()
//			hotLoop(c)
//			c.KernelEnter()
//		}
//	})
func (d *Domain) Go(cpu int, loop func(c *CPU), opts ...ClaimOption) error {
	if loop == nil {
		return &ArgError{Call: "ctdefer.Domain.Go", Arg: "loop", Reason: fmt.Sprintf("nil (CPU %d)", cpu)}
	}
	claimed := make(chan error, 1)
	go d.run(cpu, loop, opts, claimed)
	return <-claimed
}

// run is the worker goroutine of Go.
func (d *Domain) run(cpu int, loop func(c *CPU), opts []ClaimOption, claimed chan<- error) {
	c, err := d.Claim(cpu, opts...)
	claimed <- err
	if err != nil {
		return
	}
	returned := false
	// No recover: a panic keeps its stack and goes on after the release
	// (deferred calls run before an unrecovered panic ends the program),
	// and runtime.Goexit goes on too.
	defer func() {
		if c.released() { // plain field: owner-only, and this is the owner
			if !returned {
				d.logLoopEnded(cpu, nil)
			}
			return
		}
		err := c.Release()
		switch {
		case !returned:
			d.logLoopEnded(cpu, err)
		case err != nil:
			d.logReleaseFailed(cpu, err)
		}
	}()
	loop(c)
	returned = true
}
