// Package dburl decides which PostgreSQL connection string a program uses
// and how it may be shown. Both programs take the same three sources, so an
// operator never has to put a password on a command line (where `ps` and
// shell history see it): a file (--database-url-file, e.g. a systemd
// credential or a Kubernetes secret volume), the flag, or $DATABASE_URL.
// The password itself may also stay out of the URL altogether: pgx reads
// PGPASSWORD and PGPASSFILE (~/.pgpass format) like libpq does.
package dburl

import (
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Resolve returns the connection string to use: the contents of file when
// it is set (trimmed: files usually end in a newline), else flagValue, else
// the environment's DATABASE_URL. It never returns the string inside an
// error, because the string may hold a password.
func Resolve(file, flagValue string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			// os.ReadFile's error names the path, not the contents.
			return "", fmt.Errorf("reading the database URL file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("the database URL file %s is empty", file)
		}
		return s, nil
	}
	if flagValue != "" {
		return flagValue, nil
	}
	return getenv("DATABASE_URL"), nil
}

// Describe names the server and role a connection string leads to, without
// its password, for logs and status output: user@host:port/database. An
// unparseable string is described as such, never echoed.
func Describe(connString string) string {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return "(unparseable database URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
