package dburl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "url")
	if err := os.WriteFile(file, []byte("postgres://f@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://e@h/db"
		}
		return ""
	}
	for _, c := range []struct {
		file, flag, want string
	}{
		{file, "postgres://x@h/db", "postgres://f@h/db"},
		{"", "postgres://x@h/db", "postgres://x@h/db"},
		{"", "", "postgres://e@h/db"},
	} {
		got, err := Resolve(c.file, c.flag, env)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q", c.file, c.flag, got, err, c.want)
		}
	}
}

func TestResolveErrorsHoldNoContents(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{empty, filepath.Join(dir, "missing")} {
		if _, err := Resolve(f, "", os.Getenv); err == nil {
			t.Errorf("Resolve(%s): no error", f)
		}
	}
}

func TestDescribeHidesThePassword(t *testing.T) {
	const marker = "s3cr3t-MARKER"
	for _, s := range []string{
		"postgres://alice:" + marker + "@db.example:6543/cat?sslmode=disable",
		"host=db.example port=6543 user=alice password=" + marker + " dbname=cat",
		"postgres://alice@db.example:6543/cat?password=" + marker,
	} {
		got := Describe(s)
		if strings.Contains(got, marker) {
			t.Errorf("Describe(%q) = %q: holds the password", s, got)
		}
		if got != "alice@db.example:6543/cat" {
			t.Errorf("Describe(%q) = %q", s, got)
		}
	}
	if got := Describe("postgres://a:" + marker + "@h:notaport/db"); strings.Contains(got, marker) {
		t.Errorf("unparseable: %q", got)
	}
}
