// Command testsum reads `go test -json` on stdin and writes what a person
// reads from a plain `go test`: each package's ok/FAIL line, the output of
// failed and skipped tests, then one line counting the tests,
// "N passed, N failed, N skipped". `make test` pipes into it, so that CI
// can see (and refuse, with CI set) a test that skipped: a skipped check is
// a check that did not run.
//
// Exit status: 1 when a test or a package failed, 3 when CI is set and a
// test skipped, 0 otherwise.
package main

import (
	"fmt"
	"os"
)

func main() {
	sum, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	os.Exit(sum.exitCode(os.Getenv("CI") != ""))
}

// exitCode is the status for sum; strict (CI) refuses skipped tests.
func (s summary) exitCode(strict bool) int {
	switch {
	case s.failed > 0 || s.pkgFailed > 0:
		return 1
	case strict && s.skipped > 0:
		fmt.Fprintf(os.Stderr, "testsum: CI is set and %d tests skipped: install what they need (.ci/run)\n", s.skipped)
		return 3
	}
	return 0
}
