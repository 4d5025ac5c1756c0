package lazytlb

import (
	"errors"

	"github.com/ctdefer/ctdefer"
)

// Sentinel errors. Functions wrap them with the offending value; test with
// errors.Is. Programming errors by a CPU's owner (an owner method in the
// wrong state) panic instead, with messages prefixed "lazytlb: CPU.<Method>".
var (
	// ErrBadCPU: the CPU number is not one of the TLB's (or the CPU list is
	// empty, has duplicates or out-of-range numbers). The same value as
	// ctdefer.ErrBadCPU, so errors.Is works across the packages.
	ErrBadCPU = ctdefer.ErrBadCPU

	// ErrNilFlush: Options.Flush is nil.
	ErrNilFlush = errors.New("lazytlb: nil flush callback")

	// ErrNilSender: NewWithSender was given a nil SendFunc.
	ErrNilSender = errors.New("lazytlb: nil sender")

	// ErrNilArgument: a nil pointer or context was passed where a value is
	// required and no sentinel of its own covers it: New's
	// *ctdefer.Domain, Attach's *ctdefer.CPU, Shootdown's context. (A nil
	// SendFunc is ErrNilSender, a nil Options.Flush ErrNilFlush, a nil MM
	// given to Shootdown ErrForeignMM; CPU.SwitchTo, which returns no
	// error, panics on a nil MM.)
	ErrNilArgument = errors.New("lazytlb: nil argument")

	// ErrBadPolicy: Options.Policy is not one of the Policy constants.
	ErrBadPolicy = errors.New("lazytlb: unknown policy")

	// ErrForeignMM: the MM is nil or belongs to another TLB.
	ErrForeignMM = errors.New("lazytlb: address space of another TLB")

	// ErrWrongDomain: the *ctdefer.CPU belongs to another Domain than the
	// TLB's, or the TLB was made by NewWithSender (Attach); the TLB was
	// made by New (TLB.CPU: use Attach).
	ErrWrongDomain = errors.New("lazytlb: CPU of another domain")

	// ErrNoOwner: a Shootdown found a CPU in the address space's set that
	// no worker has claimed: its owner released it (ctdefer.CPU.Release)
	// without CPU.Leave, so nobody would take the flush IPI.
	ErrNoOwner = errors.New("lazytlb: CPU in the set has no owner")
)
