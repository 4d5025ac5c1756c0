package lazytlb

import (
	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/internal/corelink"
)

// claimed reports whether a worker holds cpu of d (ctdefer's view for its
// sibling packages, internal/corelink).
func claimed(d *ctdefer.Domain, cpu int) bool {
	return corelink.Of[ctdefer.CPU](d).Claimed(cpu) // load: pairs with the CAS in Claim and the store in Release
}

// owns reports whether c is a handle of one of d's CPUs.
func owns(d *ctdefer.Domain, c *ctdefer.CPU) bool {
	return corelink.Of[ctdefer.CPU](d).Owns(c)
}
