package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
)

// TestLoadAttemptsRecorded runs a load of each outcome and reads them back
// from the table and from status.
func TestLoadAttemptsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	rejects := t.TempDir()

	// Fixture copies with a known modification time: the export's age.
	dir := t.TempDir()
	taken := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fixtureDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, taken.Add(-time.Hour), taken.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(dir, "skus.csv"), taken, taken); err != nil {
		t.Fatal(err)
	}

	load := func(args ...string) int {
		code, _, _ := etl(t, append([]string{"load", "--database-url", url, "--reject-dir", rejects}, args...)...)
		return code
	}
	if code := load(dir); code != exitOK {
		t.Fatalf("load: exit %d", code)
	}
	if code := load("--if-changed", dir); code != exitOK {
		t.Fatalf("load --if-changed: exit %d", code)
	}
	if code := load(filepath.Join(t.TempDir(), "nope")); code != exitFailed {
		t.Fatalf("load of a missing dir: exit %d", code)
	}
	conn := connect(t, url)
	mustExec(t, conn, "SELECT pg_advisory_lock(7461082917532)")
	if code := load(dir); code != exitBusy {
		t.Fatalf("load while locked: exit %d", code)
	}
	mustExec(t, conn, "SELECT pg_advisory_unlock(7461082917532)")

	rows, err := conn.Query(ctx, "SELECT outcome, build_id, export_taken_at, reason FROM elier.load_attempts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Outcome string
		BuildID *int64
		Taken   *time.Time
		Reason  string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rec])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"success", "unchanged", "failed", "busy"}
	if len(got) != len(want) {
		t.Fatalf("%d attempts recorded, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Outcome != w {
			t.Errorf("attempt %d: %s, want %s", i, got[i].Outcome, w)
		}
	}
	if got[0].BuildID == nil || got[0].Taken == nil || !got[0].Taken.Equal(taken) {
		t.Errorf("success: build %v, export taken %v; want a build and %v", got[0].BuildID, got[0].Taken, taken)
	}
	if !strings.Contains(got[2].Reason, "product.csv") || got[2].Taken != nil {
		t.Errorf("failure: reason %q, taken %v", got[2].Reason, got[2].Taken)
	}
	if got[1].Reason != "" || got[3].Reason != "" {
		t.Errorf("reasons of unchanged/busy: %q %q", got[1].Reason, got[3].Reason)
	}

	code, out, errOut := etl(t, "status", "--database-url", url)
	if code != exitOK {
		t.Fatalf("status: exit %d %s", code, errOut)
	}
	for _, w := range []string{"last success  ", "(unchanged)", "last failure  ", "product.csv", "last refused", "export   " + taken.Format(time.RFC3339)} {
		if !strings.Contains(strings.ReplaceAll(out, "ago, ", "("), w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
}
