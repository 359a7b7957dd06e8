//go:build !unix

package generate

// lockable: lockDir does not lock.
const lockable = false

// lockDir does nothing where flock(2) is not available.
func lockDir(string) (func(), error) { return func() {}, nil }
