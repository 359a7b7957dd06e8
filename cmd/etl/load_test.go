package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
)

const fixtureDir = "../../testdata/atelier-sample"

func etl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestLoadStatusRollbackCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	sum := filepath.Join(t.TempDir(), "summary.json")
	rejects := t.TempDir()

	code, out, errOut := etl(t, "load", "--database-url", url, "--reject-dir", rejects, "--summary-json", sum, fixtureDir)
	if code != exitOK {
		t.Fatalf("load: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"product.csv", "photos.csv", "full build", "added 9", "documents written 9", "is live"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	var s struct {
		BuildID int64 `json:"build_id"`
		Files   []struct {
			File   string `json:"file"`
			Loaded int64  `json:"loaded"`
		} `json:"files"`
		Documents int64  `json:"documents"`
		Kind      string `json:"kind"`
		Products  struct {
			Unchanged, Changed, Added, Removed int64
		} `json:"products"`
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Documents != 9 || len(s.Files) != 6 || s.Files[3].Loaded != 9 ||
		s.Kind != "full" || s.Products.Added != 9 {
		t.Fatalf("summary JSON %s (%v)", b, err)
	}
	for _, f := range []string{"product.csv", "skus.csv", "related.csv"} {
		if _, err := os.Stat(filepath.Join(rejects, f+".rejects.csv")); err != nil {
			t.Errorf("no reject file for %s: %v", f, err)
		}
	}

	// --if-changed with nothing new: success, no new build.
	if code, _, e := etl(t, "load", "--database-url", url, "--reject-dir", rejects, "--if-changed", fixtureDir); code != exitOK {
		t.Fatalf("--if-changed: exit %d\n%s", code, e)
	}
	code, out, _ = etl(t, "status", "--database-url", url)
	if code != exitOK || !strings.Contains(out, "live build") || strings.Contains(out, "previous build") {
		t.Fatalf("status after an unchanged rerun: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "xxh64 ") || !strings.Contains(out, "skus.csv") {
		t.Errorf("status lacks checksums:\n%s", out)
	}

	// Rollback with nothing to roll back to fails plainly.
	if code, _, e := etl(t, "rollback", "--database-url", url); code != exitFailed || !strings.Contains(e, "no previous build") {
		t.Errorf("rollback without previous: exit %d, %s", code, e)
	}

	// A second load of the same export is incremental and writes nothing;
	// --full writes everything again.
	code, out, errOut = etl(t, "load", "--database-url", url, "--reject-dir", rejects, "--summary-json", sum, fixtureDir)
	if code != exitOK || !strings.Contains(out, "incremental build: products unchanged 9, changed 0, added 0, removed 0; documents written 0") {
		t.Errorf("second load: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = etl(t, "load", "--full", "--database-url", url, "--reject-dir", rejects, fixtureDir)
	if code != exitOK || !strings.Contains(out, "full build: products unchanged 9, changed 0, added 0, removed 0; documents written 9") {
		t.Errorf("--full load: exit %d\n%s%s", code, out, errOut)
	}

	// Another load holding the lock: the distinct exit code, at once.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_lock(7461082917532)"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = etl(t, "load", "--database-url", url, "--reject-dir", rejects, fixtureDir)
	if code != exitBusy || !strings.Contains(errOut, "another load is running") {
		t.Errorf("load while locked: exit %d, stderr %q; want %d", code, errOut, exitBusy)
	}
}

func TestLoadUsageAndInputErrors(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no dir", []string{"load", "--database-url", url}, exitUsage, "arg"},
		{"bad flag", []string{"load", "--nope", fixtureDir}, exitUsage, "unknown flag"},
		{"bad ratio", []string{"load", "--database-url", url, "--max-reject-ratio", "2", fixtureDir}, exitUsage, "max-reject-ratio"},
		{"unknown command", []string{"lode"}, exitUsage, "unknown command"},
		{"no database", []string{"load", "--database-url", "", fixtureDir}, exitUsage, "DATABASE_URL"},
		{"missing dir", []string{"load", "--database-url", url, "--reject-dir", t.TempDir(), filepath.Join(t.TempDir(), "nope")}, exitFailed, "product.csv"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, e := etl(t, c.args...)
			if code != c.code || !strings.Contains(e, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, e, c.code, c.msg)
			}
			if strings.Count(strings.TrimSpace(e), "\n") > 0 && c.name != "unknown command" {
				t.Errorf("a usage error should be one line:\n%s", e)
			}
		})
	}
}
