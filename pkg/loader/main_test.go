package loader

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: the
// loader runs one per file, and an early error must not strand the others.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
