package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elier/catalogue/internal/pgtest"
)

// TestNoSecretInOutput runs every subcommand, and their --help, with a
// database URL whose password is a marker, given every way a URL can be
// (environment, flag, file; URL and key=value forms), against a reachable
// server (the private cluster trusts local connections, so any password
// connects), an unreachable one, and an unparseable URL; the marker must
// appear in no output, no file written and no row recorded.
func TestNoSecretInOutput(t *testing.T) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	marker := "MaRkEr" + hex.EncodeToString(b[:])
	good := pgtest.NewDatabase(t)
	u, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), marker)
	good = u.String()
	urls := map[string]string{
		"good":        good,
		"unreachable": "postgres://elier:" + marker + "@127.0.0.1:1/elier?connect_timeout=2",
		"bad port":    "postgres://elier:" + marker + "@127.0.0.1:notaport/elier",
		"bad option":  "postgres://elier:" + marker + "@127.0.0.1/elier?sslmode=maybe",
		"key=value":   "host=127.0.0.1 port=1 user=elier password=" + marker + " dbname=elier connect_timeout=2",
		"quoted kv":   "host=127.0.0.1 port=1 user=elier password='" + marker + " x' dbname=elier connect_timeout=2",
	}

	work := t.TempDir()
	export := filepath.Join(work, "export")
	if code, _, e := etl(t, "generate", "--products", "40", "--seed", "3", export); code != exitOK {
		t.Fatalf("generate: %d %s", code, e)
	}
	pwFile := filepath.Join(work, "pw")
	if err := os.WriteFile(pwFile, []byte("reader-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := func(name string) [][]string {
		out := filepath.Join(work, "out-"+strings.ReplaceAll(name, " ", "-"))
		return [][]string{
			{"--help"},
			{"load", "--help"}, {"status", "--help"}, {"rollback", "--help"}, {"roles", "--help"}, {"generate", "--help"},
			{"load", "--reject-dir", out + "/rejects", "--summary-json", out + "/summary.json", export},
			{"load", "--if-changed", "--reject-dir", out + "/rejects", export},
			{"load", "--max-shrink", "1", "--reject-dir", out + "/rejects", "--summary-json", out + "/summary2.json", export},
			{"load", "--reject-dir", out + "/rejects", filepath.Join(work, "missing")},
			{"load", "--max-reject-ratio", "7", export},
			{"status"}, {"rollback"}, {"rollback"},
			{"roles", "--reader-password-file", pwFile},
			{"generate", "--products", "3", out + "/gen"},
			{"nonsense"},
		}
	}
	check := func(what, s string) {
		t.Helper()
		if strings.Contains(s, marker) {
			t.Errorf("%s holds the password:\n%s", what, s)
		}
	}
	for name, dbURL := range urls {
		for _, via := range []string{"env", "flag", "file"} {
			for _, args := range commands(name) {
				var extra []string
				switch via {
				case "env":
					t.Setenv("DATABASE_URL", dbURL)
				case "flag":
					t.Setenv("DATABASE_URL", "")
					if args[0] != "--help" && args[0] != "nonsense" {
						extra = []string{"--database-url", dbURL}
					}
				case "file":
					t.Setenv("DATABASE_URL", "")
					f := filepath.Join(work, "url")
					if err := os.WriteFile(f, []byte(dbURL+"\n"), 0o600); err != nil {
						t.Fatal(err)
					}
					if args[0] != "--help" && args[0] != "nonsense" {
						extra = []string{"--database-url-file", f}
					}
				}
				full := append(append([]string{args[0]}, extra...), args[1:]...)
				code, out, errOut := etl(t, full...)
				check(name+" via "+via+": elier-etl "+strings.Join(args, " ")+fmt.Sprintf(" (exit %d)", code), out+errOut)
			}
		}
	}
	// Files written anywhere under the work directory: summaries, rejects,
	// generated exports.
	err = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == filepath.Join(work, "url") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check(p, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the loader recorded in the database.
	conn := connect(t, pgtestURL(t, good))
	var rows string
	if err := conn.QueryRow(context.Background(),
		"SELECT coalesce(string_agg(a::text, E'\\n'), '') || (SELECT coalesce(string_agg(b::text, E'\\n'), '') FROM elier.builds b) FROM elier.load_attempts a").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rows, "failed") || !strings.Contains(rows, "success") {
		t.Errorf("the runs were not recorded:\n%s", rows)
	}
	check("elier.load_attempts and elier.builds", rows)
}

// pgtestURL is u without its password (the test cluster needs none).
func pgtestURL(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.User(p.User.Username())
	return p.String()
}
