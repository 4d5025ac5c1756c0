package sysx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// errnoError turns a failed system call's errno into the error to wrap:
// the errno itself (so errors.Is(err, unix.EPERM) works), additionally
// wrapping ErrNotSupported when the kernel lacks the system call (ENOSYS).
func errnoError(errno unix.Errno) error {
	if errno == unix.ENOSYS {
		return fmt.Errorf("%w (%w)", ErrNotSupported, errno)
	}
	return errno
}
