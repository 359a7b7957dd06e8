// Package sql holds the project's SQL, embedded so that the binaries carry it
// and no SQL string is assembled elsewhere.
package sql

import (
	"embed"
	"strings"
)

// Files holds every .sql file of this directory.
//
//go:embed *.sql
var Files embed.FS

// Must returns the named file's text; a missing file is a build mistake.
func Must(name string) string {
	b, err := Files.ReadFile(name)
	if err != nil {
		panic("sql: " + err.Error())
	}
	return string(b)
}

// Named splits a file of several statements, each introduced by a line
// `-- name: NAME`, into a map from name to statement.
func Named(file string) map[string]string {
	out := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(Must(file), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			name = strings.TrimSpace(n)
			continue
		}
		if name != "" {
			out[name] += line
		}
	}
	return out
}

// Expand replaces each {{key}} of a statement by its value. Values are
// identifiers quoted by the caller or integers, never user input.
func Expand(stmt string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		stmt = strings.ReplaceAll(stmt, "{{"+kv[i]+"}}", kv[i+1])
	}
	return stmt
}
