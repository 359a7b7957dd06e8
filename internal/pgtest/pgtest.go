// Package pgtest gives each test its own fresh PostgreSQL database on the
// cluster named by DATABASE_URL (the project's private cluster under
// `make test`), and drops it when the test ends. Tests stay independent and
// may run in parallel and in any order; nothing is mocked.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/dburl"
)

// URL returns the server URL the tests use, failing the test when none is
// configured: a database test that silently skips proves nothing.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Fatal("DATABASE_URL is not set: run the tests with `make test`, which starts the project's PostgreSQL, or set DATABASE_URL")
	}
	return u
}

// NewDatabase creates an empty database for t and returns its URL. The
// database is dropped (connections forced out) when t and its subtests end.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "test_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", dburl.Describe(base), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})

	u, err := WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// WithDatabase returns the connection string base pointed at database name.
// It takes both forms pgx accepts: a URL or key=value pairs.
func WithDatabase(base, name string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("parsing DATABASE_URL: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return base + " dbname=" + name, nil
}

// WithUser returns the connection string base with its user replaced, for
// tests that connect as one of the catalogue's roles (the private cluster
// trusts local connections, so no password is needed).
func WithUser(base, user string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("parsing DATABASE_URL: %w", err)
		}
		u.User = url.User(user)
		return u.String(), nil
	}
	return base + " user=" + user, nil
}
