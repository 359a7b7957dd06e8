package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
)

// cartTables tells whether url's database has the cart's tables.
func cartTables(t *testing.T, url string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(context.Background(),
		"SELECT to_regclass('elier_cart.items') IS NOT NULL AND to_regclass('elier_cart.carts') IS NOT NULL").Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestMigrate: `migrate` creates the cart's schema, again without harm;
// `load` and `rollback` apply it too, so a database loaded by any version
// of the loader since has it.
func TestMigrate(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	if cartTables(t, url) {
		t.Fatal("a fresh database has the cart's tables")
	}
	for range 2 {
		code, out, errOut := etl(t, "migrate", "--database-url", url)
		if code != exitOK || !strings.Contains(out, "up to date") {
			t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
		}
	}
	if !cartTables(t, url) {
		t.Fatal("migrate left no cart tables")
	}

	loaded := pgtest.NewDatabase(t)
	if code, _, errOut := etl(t, "load", "--database-url", loaded, "--reject-dir", t.TempDir(), fixtureDir); code != exitOK {
		t.Fatalf("load: exit %d\n%s", code, errOut)
	}
	if !cartTables(t, loaded) {
		t.Fatal("load left no cart tables")
	}
	if code, _, _ := etl(t, "migrate", "--database-url", "postgres://%zz"); code != exitUsage {
		t.Errorf("migrate with a malformed URL: exit %d, want %d", code, exitUsage)
	}
}
