package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSummarizeRealRun runs go test -json on a small package written for
// the occasion, with a passing, a failing and a skipping test and a
// subtest, and reads the summary.
func TestSummarizeRealRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/x\n\ngo 1.26\n")
	write("x_test.go", `package x

import "testing"

func TestPass(t *testing.T) { t.Run("sub", func(t *testing.T) {}) }
func TestFail(t *testing.T) { t.Log("the reason it failed"); t.Fail() }
func TestSkip(t *testing.T) { t.Skip("no tool here") }
`)
	cmd := exec.Command("go", "test", "-json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	stream, _ := cmd.Output() // exits 1: a test fails
	var out strings.Builder
	s, err := summarize(strings.NewReader(string(stream)), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.passed != 2 || s.failed != 1 || s.skipped != 1 || s.pkgFailed != 1 {
		t.Errorf("counted %+v; want 2 passed (a test and its subtest), 1 failed, 1 skipped, 1 package failed", s)
	}
	text := out.String()
	for _, want := range []string{"the reason it failed", "--- FAIL: TestFail", "--- SKIP: TestSkip", "no tool here",
		"FAIL\texample.com/x", "2 passed, 1 failed, 1 skipped\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "=== RUN") || strings.Contains(text, "--- PASS") {
		t.Errorf("output has the passing tests' chatter:\n%s", text)
	}
	if s.exitCode(false) != 1 {
		t.Error("a failure does not fail")
	}
	if (summary{passed: 1, skipped: 1}).exitCode(true) != 3 || (summary{passed: 1, skipped: 1}).exitCode(false) != 0 {
		t.Error("a skip is not refused under CI, or refused outside it")
	}
}

// TestSummarizeTimeout: a package that times out ends with no verdict for
// its running test; its output (what hung) is still shown.
func TestSummarizeTimeout(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":    "module example.com/y\n\ngo 1.26\n",
		"y_test.go": "package y\n\nimport (\"testing\"; \"time\")\n\nfunc TestHang(t *testing.T) { t.Log(\"waiting for Godot\"); time.Sleep(time.Minute) }\n",
	} {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-timeout", "2s", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	stream, _ := cmd.Output()
	var out strings.Builder
	s, err := summarize(strings.NewReader(string(stream)), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.pkgFailed != 1 {
		t.Errorf("counted %+v; want the package failed", s)
	}
	for _, want := range []string{"panic: test timed out", "TestHang"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
