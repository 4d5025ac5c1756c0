package bench

import (
	"errors"
	"runtime"

	"github.com/ctdefer/ctdefer"
)

// Values beside the peers: the hot-loop modes above deliver items, and the
// channel and mutex mailbox modes already carry each item's value (a
// uint64) to the worker. The Queue mode carries the same values through a
// ctdefer.Queue: the sender's Send enqueues the value in the target CPU's
// ring and defers the queue's work (one CAS while the worker is in user
// mode), and the worker runs the values at its next kernel entry, as the
// Defer mode runs its bit. Its capacity is the channel's (1024): a full
// queue makes the sender retry, as a full channel blocks it.
func init() {
	hotModes = append(hotModes, hotMode{name: "Queue", ctdefer: true, make: queueMode})
}

// queueCapacity is the Queue mode's capacity per CPU, the channel mode's
// buffer.
const queueCapacity = 1024

func queueMode(r *hotRig) (func(*ctdefer.CPU), func(uint64) error) {
	q, err := ctdefer.NewQueue(r.d, "bench.values", queueCapacity, func(int, uint64) {
		r.applied++ // as the channel mode does with a value it receives
	})
	if err != nil {
		return func(*ctdefer.CPU) {}, func(uint64) error { return err }
	}
	return func(c *ctdefer.CPU) { c.Poll() }, func(i uint64) error {
		for {
			how, err := q.Send(r.target, i)
			if errors.Is(err, ctdefer.ErrFull) {
				runtime.Gosched() // the worker has 1024 values to run: let it
				continue
			}
			if int(how) < len(r.how) {
				r.how[how]++
			}
			return err
		}
	}
}
