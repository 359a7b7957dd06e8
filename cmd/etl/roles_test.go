package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/elier/catalogue/internal/pgtest"
)

// TestRolesLeastPrivilege applies the roles, loads as the owner, and shows
// that the reader reads what the API reads and can change nothing, and that
// the API's role writes the cart's rows only.
func TestRolesLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.NewDatabase(t)
	dir := t.TempDir()
	args := []string{"roles", "--database-url", admin}
	for _, r := range roleNames {
		f := filepath.Join(dir, r.short)
		if err := os.WriteFile(f, []byte("pw-"+r.short+"-0123456789\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--"+r.short+"-password-file", f)
	}
	code, out, errOut := etl(t, args...)
	if code != exitOK || !strings.Contains(out, "passwords set for 4") {
		t.Fatalf("roles: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "pw-") {
		t.Errorf("roles printed a password:\n%s%s", out, errOut)
	}
	adminConn := connect(t, admin)
	for _, r := range roleNames {
		var stored string
		if err := adminConn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", r.role).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
			t.Errorf("%s's password is stored as %.14q…, not a SCRAM verifier", r.role, stored)
		}
	}
	// Idempotent, and without passwords it keeps them.
	if code, out, errOut := etl(t, "roles", "--database-url", admin); code != exitOK || !strings.Contains(out, "set for 0") {
		t.Fatalf("roles again: exit %d\n%s%s", code, out, errOut)
	}

	owner := asRole(t, admin, "elier_owner")
	if code, _, errOut := etl(t, "load", "--database-url", owner, "--reject-dir", t.TempDir(), fixtureDir); code != exitOK {
		t.Fatalf("load as elier_owner: exit %d\n%s", code, errOut)
	}
	var buildSchema string
	if err := adminConn.QueryRow(ctx, "SELECT schema_name FROM elier.builds WHERE state = 'live'").Scan(&buildSchema); err != nil {
		t.Fatal(err)
	}
	ownerConn := connect(t, owner)
	mustExec(t, ownerConn, "CREATE TABLE IF NOT EXISTS elier_cart.lines (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sku_id integer)")
	// A view added to schema elier after the roles (as the cart adds elier.skus).
	mustExec(t, ownerConn, "CREATE VIEW elier.later AS SELECT 1 AS one")

	reader := connect(t, asRole(t, admin, "elier_reader"))
	for _, q := range []string{
		"SELECT count(*) FROM elier.docs WHERE styles <> ''",
		"SELECT count(*) FROM elier.builds",
		"SELECT count(*) FROM elier.load_attempts",
		"SELECT count(*) FROM elier.later",
		"SELECT count(*) FROM elier.dicts", // readers unpack product documents with them
	} {
		var n int64
		if err := reader.QueryRow(ctx, q).Scan(&n); err != nil || n == 0 {
			t.Errorf("reader: %s: %d, %v", q, n, err)
		}
	}
	build := pgx.Identifier{buildSchema}.Sanitize()
	denied := []string{
		"INSERT INTO elier.builds (id, schema_name, state) VALUES (999, 'x', 'failed')",
		"UPDATE elier.builds SET source_dir = 'x'",
		"DELETE FROM elier.builds",
		"TRUNCATE elier.builds",
		"TRUNCATE elier.load_attempts",
		"INSERT INTO elier.docs (id) VALUES (1)",
		"UPDATE elier.docs SET styles = ''",
		"DELETE FROM elier.dicts",
		"DELETE FROM elier.docs",
		"DROP VIEW elier.docs",
		"DROP TABLE elier.builds",
		"DROP SCHEMA elier CASCADE",
		"SELECT count(*) FROM " + build + ".docs",
		"DELETE FROM " + build + ".docs",
		"DROP SCHEMA " + build + " CASCADE",
		"CREATE TABLE elier.x (i int)",
		"CREATE TABLE public.x (i int)",
		"CREATE TEMP TABLE x (i int)",
		"CREATE SCHEMA x",
		"CREATE OR REPLACE VIEW elier.docs AS SELECT 1",
		"INSERT INTO elier_cart.lines (sku_id) VALUES (1)",
	}
	for _, q := range denied {
		expectDenied(t, reader, "reader", q)
	}

	api := connect(t, asRole(t, admin, "elier_api"))
	for _, q := range []string{
		"INSERT INTO elier_cart.lines (sku_id) VALUES (1)",
		"UPDATE elier_cart.lines SET sku_id = 2",
		"SELECT count(*) FROM elier_cart.lines",
		"SELECT count(*) FROM elier.docs",
		"DELETE FROM elier_cart.lines",
	} {
		mustExec(t, api, q)
	}
	for _, q := range append(denied[:len(denied)-1:len(denied)-1],
		"CREATE TABLE elier_cart.x (i int)", "DROP TABLE elier_cart.lines", "TRUNCATE elier_cart.lines") {
		expectDenied(t, api, "api", q)
	}
}

func asRole(t *testing.T, url, role string) string {
	t.Helper()
	u, err := pgtest.WithUser(url, role)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func mustExec(t *testing.T, c *pgx.Conn, q string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// expectDenied runs q in a transaction that is rolled back either way and
// wants PostgreSQL's insufficient_privilege.
func expectDenied(t *testing.T, c *pgx.Conn, who, q string) {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, q)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("%s: %s: got %v, want insufficient_privilege (42501)", who, q, err)
	}
}

// TestScramVerifier checks the verifier against RFC 7677's example
// exchange: the StoredKey must validate the client's proof, and the
// ServerKey must produce the server's signature.
func TestScramVerifier(t *testing.T) {
	v, err := scramVerifierSalt("pencil", mustB64(t, "W22ZaJ0SNY7soEsUEjb6gQ=="))
	if err != nil {
		t.Fatal(err)
	}
	// SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
	_, keys, _ := strings.Cut(strings.TrimPrefix(v, "SCRAM-SHA-256$4096:"), "$")
	sk, svk, _ := strings.Cut(keys, ":")
	storedKey, serverKey := mustB64(t, sk), mustB64(t, svk)
	auth := "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	proof := mustB64(t, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	clientSig := hmacSHA256(storedKey, auth)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	if h := sha256.Sum256(clientKey); !hmac.Equal(h[:], storedKey) {
		t.Errorf("StoredKey %s does not validate RFC 7677's client proof", sk)
	}
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, auth)); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("server signature %s", got)
	}
	if _, err := scramVerifier("pâss"); err == nil {
		t.Error("a non-ASCII password was accepted (SASLprep is not implemented)")
	}
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
