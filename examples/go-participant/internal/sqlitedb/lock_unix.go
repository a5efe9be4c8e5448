//go:build unix

package sqlitedb

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive, non-blocking flock. It is held by the open file
// description, so the kernel drops it when the process exits for any reason.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
