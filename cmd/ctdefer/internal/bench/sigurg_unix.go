//go:build unix

package bench

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	sigurgOnce sync.Once
	sigurgs    atomic.Uint64
)

// sigurgCount returns the SIGURG signals the process has received since
// the first call (os/signal: the runtime still handles them as preemption
// requests). Signals that arrive while one is pending are merged.
func sigurgCount() uint64 {
	sigurgOnce.Do(func() {
		ch := make(chan os.Signal, 1024)
		signal.Notify(ch, syscall.SIGURG)
		go func() {
			for range ch {
				sigurgs.Add(1)
			}
		}()
	})
	return sigurgs.Load()
}
