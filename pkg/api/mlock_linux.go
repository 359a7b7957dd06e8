package api

import (
	"fmt"
	"syscall"
)

// mclOnFault is Linux's MCL_ONFAULT (since 4.4), which package syscall
// does not name: lock pages as they are touched, without faulting in every
// mapping at once.
const mclOnFault = 4

// lockMemory keeps the process's pages in RAM (mlockall): the code it has
// run and every page it touches from now on, the cache included, so that
// neither the page cache being dropped or shrunk under memory pressure
// from elsewhere nor swap can send a request to the disk. Pages are locked
// as they are touched (MCL_ONFAULT): the call itself reads nothing.
func lockMemory() error {
	if err := syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE | mclOnFault); err != nil {
		return fmt.Errorf("locking the API's memory (--mlock needs CAP_IPC_LOCK or a memlock limit above the cache, e.g. systemd's LimitMEMLOCK=infinity): %w", err)
	}
	return nil
}
