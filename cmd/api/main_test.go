package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/build"
)

// TestNoSecretInOutput runs elier-api with a database URL whose password
// is a marker, given by the environment, the flag and a file, against a
// loaded database (the private cluster trusts local connections, so any
// password connects), an unreachable server and an unparseable URL, and
// asks every route; the marker must appear in no log line and no answer.
// Against the test cluster, whose role is a superuser, the API must also
// warn that it runs as one.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	marker := "MaRkEr" + hex.EncodeToString(b[:])
	db := pgtest.NewDatabase(t)
	load(t, db)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), marker)
	good := u.String()
	unreachable := "postgres://elier:" + marker + "@127.0.0.1:1/elier?connect_timeout=1"
	urlFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(urlFile, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name  string
		env   string
		args  []string
		ready int // /readyz's status; 0: the program exits at once
		warn  bool
	}{
		{"env", good, nil, 200, true},
		{"flag", "", []string{"--database-url", good}, 200, true},
		{"file", unreachable, []string{"--database-url-file", urlFile}, 200, true},
		{"unreachable", unreachable, nil, 503, false},
		{"bad port", "postgres://elier:" + marker + "@127.0.0.1:notaport/elier", nil, 0, false},
		{"bad option", "postgres://elier:" + marker + "@127.0.0.1/elier?sslmode=maybe", nil, 0, false},
		{"help", good, []string{"-h"}, 0, false},
		{"bad flag", good, []string{"--nope"}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string {
				if k == "DATABASE_URL" {
					return c.env
				}
				return ""
			}
			// One slog handler writes it (serialized), and it is read after
			// run returns.
			var stderr bytes.Buffer
			var bodies strings.Builder
			if c.ready == 0 {
				run(context.Background(), c.args, getenv, &stderr)
			} else {
				addr := freeAddr(t)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan int, 1)
				go func() {
					done <- run(ctx, append([]string{"--addr", addr, "--db-timeout", "1s"}, c.args...), getenv, &stderr)
				}()
				base := "http://" + addr
				waitUp(t, base)
				if got := get(t, base+"/readyz", &bodies); got != c.ready {
					t.Errorf("/readyz: %d, want %d", got, c.ready)
				}
				for _, p := range []string{"/metrics", "/products/1", "/products/1/styles", "/products?count=3", "/nope", "/products/x"} {
					get(t, base+p, &bodies)
				}
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("exit %d:\n%s", code, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), marker) || strings.Contains(bodies.String(), marker) {
				t.Errorf("the password is in the output:\n%s\n%s", stderr.String(), bodies.String())
			}
			if warned := strings.Contains(stderr.String(), "as a superuser"); warned != c.warn {
				t.Errorf("superuser warning: %v, want %v:\n%s", warned, c.warn, stderr.String())
			}
		})
	}
}

func load(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = build.Conns(2)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := build.Rebuild(ctx, pool, build.Options{
		Dir: "../../testdata/atelier-sample", RejectDir: t.TempDir(), MaxRejectRatio: 1, MaxShrink: 1, Ranges: 2,
	}); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitUp(t *testing.T, base string) {
	t.Helper()
	for range 200 {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never answered", base)
}

func get(t *testing.T, u string, bodies *strings.Builder) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	bodies.Write(b)
	for k, v := range resp.Header {
		bodies.WriteString(k + ": " + strings.Join(v, ",") + "\n")
	}
	return resp.StatusCode
}
