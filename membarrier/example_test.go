package membarrier_test

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctdefer/ctdefer/membarrier"
)

// asymmetricBarrier is the writer's side of an asymmetric fence: the
// membarrier system call where the kernel has it, and otherwise a fallback
// that the readers must then pair with (here a lock they take).
type asymmetricBarrier struct {
	fallback      sync.RWMutex // readers RLock it when useMembarrier is false
	useMembarrier bool
}

func newAsymmetricBarrier() (*asymmetricBarrier, error) {
	err := membarrier.Register(membarrier.CmdPrivateExpedited)
	switch {
	case err == nil:
		return &asymmetricBarrier{useMembarrier: true}, nil
	case errors.Is(err, membarrier.ErrNotSupported):
		return &asymmetricBarrier{}, nil // other OS, old kernel: readers lock
	default:
		return nil, err
	}
}

// sync returns once no reader can still act on state from before the call.
func (b *asymmetricBarrier) sync() error {
	if b.useMembarrier {
		return membarrier.PrivateExpedited()
	}
	// Waits for the readers that hold the lock; the empty section is the
	// point: it is a barrier, not a critical section.
	b.fallback.Lock()
	b.fallback.Unlock() //lint:ignore SA2001 an empty section is the barrier
	return nil
}

// A runtime picks membarrier where it exists and falls back elsewhere; the
// output is the same on every platform.
func Example() {
	b, err := newAsymmetricBarrier()
	if err != nil {
		fmt.Println("register:", err)
		return
	}
	fmt.Println("barrier:", b.sync())
	// Output:
	// barrier: <nil>
}

// Commands print with the kernel's names, as membarrier(2) documents them.
func ExampleCommands_String() {
	fmt.Println(membarrier.CmdPrivateExpeditedSyncCore)
	fmt.Println(membarrier.Commands(membarrier.CmdPrivateExpedited | membarrier.CmdRegisterPrivateExpedited))
	// Output:
	// MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	// MEMBARRIER_CMD_PRIVATE_EXPEDITED|MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
}

// Only the private expedited commands have a registration; asking for
// another is a programming error, reported the same way on every platform.
func ExampleRegister() {
	err := membarrier.Register(membarrier.CmdGlobal)
	fmt.Println(errors.Is(err, membarrier.ErrInvalidCommand))
	// Output:
	// true
}

// Query tells which commands the kernel has; it asks once per process.
func ExampleQuery() {
	cmds, err := membarrier.Query()
	switch {
	case errors.Is(err, membarrier.ErrNotSupported):
		fmt.Println("no membarrier: readers must fence themselves")
	case err != nil:
		fmt.Println("query:", err)
	case cmds.Has(membarrier.CmdPrivateExpeditedSyncCore):
		fmt.Println("JIT code may be patched with PrivateExpeditedSyncCore")
	}
}
