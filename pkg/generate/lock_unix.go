//go:build unix

package generate

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockable: lockDir locks.
const lockable = true

// lockDir takes dir's lock (flock(2) on the directory itself, so that
// nothing but the export is written there) without waiting: two runs into
// one directory would write the same .tmp files at once, and the second
// one's renames fail once the first has made them. unlock releases it.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the directory to lock it: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, errBusy)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
