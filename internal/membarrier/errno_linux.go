package membarrier

import (
	"errors"
	"syscall"
)

// classify extracts the errno of a failed system call (wrapped by sysx).
func classify(err error) (errnoKind, error) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return errnoNone, nil
	}
	switch errno {
	case syscall.EPERM:
		return errnoPerm, errno
	case syscall.ENOSYS:
		return errnoNoSys, errno
	case syscall.EINVAL:
		return errnoInval, errno
	}
	return errnoOther, errno
}
