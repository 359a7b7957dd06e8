package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type summary struct {
	passed, failed, skipped, pkgFailed int
}

// summarize copies the interesting part of the event stream in to out and
// counts the tests. Subtests count like tests: each is a check.
func summarize(in io.Reader, out io.Writer) (summary, error) {
	var s summary
	held := map[string][]string{} // output of a running test, by package and name
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// go test writes build errors as plain text.
			fmt.Fprintln(out, string(line))
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch {
		case e.Action == "output" && e.Test != "":
			held[key] = append(held[key], e.Output)
		case e.Action == "output":
			// The package's own lines: "ok  pkg 1.2s", "FAIL pkg", "--- FAIL",
			// panics outside a test. Not the bare PASS/FAIL verdicts.
			if o := strings.TrimSpace(e.Output); o != "PASS" && o != "FAIL" && !strings.HasPrefix(o, "=== ") {
				fmt.Fprint(out, e.Output)
			}
		case e.Test == "" && e.Action == "fail":
			s.pkgFailed++
			// Tests of this package that never ended (a timeout's panic, a
			// crash): their output, the goroutine dump included, is the
			// only account of what hung.
			for k, lines := range held {
				if strings.HasPrefix(k, e.Package+"\x00") {
					for _, o := range lines {
						fmt.Fprint(out, o)
					}
					delete(held, k)
				}
			}
		case e.Test == "":
		case e.Action == "pass":
			s.passed++
			delete(held, key)
		case e.Action == "fail" || e.Action == "skip":
			if e.Action == "fail" {
				s.failed++
			} else {
				s.skipped++
			}
			for _, o := range held[key] {
				if !strings.HasPrefix(o, "=== ") {
					fmt.Fprint(out, o)
				}
			}
			delete(held, key)
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading go test's output: %w", err)
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return s, nil
}
