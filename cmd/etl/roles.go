package main

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/elier/catalogue/sql"
)

// roleNames are the roles sql/roles.sql creates, by the short name of their
// password flag and variable.
var roleNames = []struct{ short, role string }{
	{"owner", "elier_owner"},
	{"reader", "elier_reader"},
	{"api", "elier_api"},
	{"replication", "elier_replication"},
}

func (a *app) rolesCmd() *cobra.Command {
	var db dbFlags
	files := map[string]*string{}
	c := &cobra.Command{
		Use:   "roles",
		Short: "Create or update the database roles (owner, reader, api, replication) and their grants",
		Long: `Roles creates the catalogue's roles and grants (sql/roles.sql): elier_owner for
the loader, elier_reader (read-only: what the API reads), elier_api (the reader
plus the cart's rows) and elier_replication. Run it as the database's
administrator; it is idempotent.

Passwords come from files (--owner-password-file, ...) or the environment
(ELIER_OWNER_PASSWORD, ELIER_READER_PASSWORD, ELIER_API_PASSWORD,
ELIER_REPLICATION_PASSWORD); a role with neither keeps its password. They are
sent to the server as SCRAM-SHA-256 verifiers, never in clear, and never
printed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			passwords := map[string]string{}
			for _, r := range roleNames {
				p, err := readPassword(*files[r.short], "ELIER_"+strings.ToUpper(r.short)+"_PASSWORD")
				if err != nil {
					return usageError{fmt.Errorf("--%s-password-file: %w", r.short, err)}
				}
				if p != "" {
					passwords[r.role] = p
				}
			}
			return withPool(cmd.Context(), db, func(pool *pgxpool.Pool) error {
				set, err := applyRoles(cmd.Context(), pool, passwords)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "roles elier_owner, elier_reader, elier_api, elier_replication ready; passwords set for %d of them\n", set)
				return nil
			})
		},
	}
	dbFlag(c, &db)
	for _, r := range roleNames {
		files[r.short] = c.Flags().String(r.short+"-password-file", "", "file holding "+r.role+"'s password (else $ELIER_"+strings.ToUpper(r.short)+"_PASSWORD)")
	}
	return c
}

// readPassword returns the password in file (its first line), else in the
// environment variable env, else "".
func readPassword(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	p, _, _ := strings.Cut(string(b), "\n")
	if p = strings.TrimRight(p, "\r"); p == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return p, nil
}

// applyRoles runs sql/roles.sql and sets the given passwords (role name to
// password); it returns how many it set.
func applyRoles(ctx context.Context, pool *pgxpool.Pool, passwords map[string]string) (int, error) {
	q := sql.Named("roles.sql")
	// The catalogue first, so that its objects exist to be granted.
	if _, err := pool.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return 0, fmt.Errorf("installing the catalog schema: %w", err)
	}
	for _, step := range []string{"create", "grants"} {
		if _, err := pool.Exec(ctx, q[step]); err != nil {
			return 0, fmt.Errorf("roles (%s): %w", step, err)
		}
	}
	// The loader warms a new build with pg_prewarm, an extension only a
	// superuser may install: install it now, while one is connected (best
	// effort, as the loader's own attempt).
	if _, err := pool.Exec(ctx, sql.Named("prewarm.sql")["ensure"]); err != nil {
		return 0, fmt.Errorf("installing pg_prewarm: %w", err)
	}
	n := 0
	for _, r := range roleNames {
		p, ok := passwords[r.role]
		if !ok {
			continue
		}
		verifier, err := scramVerifier(p)
		if err != nil {
			return n, err
		}
		var stmt string
		if err := pool.QueryRow(ctx, q["set_password"], r.role, verifier).Scan(&stmt); err != nil {
			return n, fmt.Errorf("setting %s's password: %w", r.role, err)
		}
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return n, fmt.Errorf("setting %s's password: %w", r.role, err)
		}
		n++
	}
	return n, nil
}

// scramIterations is PostgreSQL's default (scram_iterations, 4096).
const scramIterations = 4096

// scramVerifier computes what PostgreSQL stores for a SCRAM-SHA-256
// password (RFC 5802, RFC 7677; the format of pg_authid.rolpassword), as
// libpq's PQencryptPasswordConn does: sending the verifier rather than the
// password keeps the password out of the server's statement log and
// pg_stat_activity. Passwords are used as given; PostgreSQL's SASLprep
// changes only non-ASCII ones, so use ASCII passwords (generated ones are).
func scramVerifier(password string) (string, error) {
	for _, r := range password {
		if r >= 0x80 {
			return "", errors.New("passwords must be ASCII (PostgreSQL would SASLprep them; this does not)")
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	return scramVerifierSalt(password, salt)
}

func scramVerifierSalt(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored[:]), b64(server)), nil
}
