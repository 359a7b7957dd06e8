package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/elier/catalogue/internal/pgtest"
	sqlfiles "github.com/elier/catalogue/sql"
)

// TestBuildSwap: a new build is served within a second or two of its swap,
// with nothing of the old one left in the cache (404s included), whether
// the API hears the NOTIFY or only polls.
func TestBuildSwap(t *testing.T) {
	t.Parallel()
	base, url, docs1 := seeded(t)
	c := newClient(t)
	docs2 := build2(t)

	// Fill the cache with build 1's answers, a 404 and a coded variant too.
	for _, p := range []string{"/products/1", "/products/1/related", "/products/9", "/products/10", "/products?count=10"} {
		do(t, c, "GET", base+p)
	}
	do(t, c, "GET", base+"/products/1", "Accept-Encoding", "gzip")
	if _, body := do(t, c, "GET", base+"/products/1"); !bytes.Equal(body, docs1[0].Product) {
		t.Fatalf("build 1: %s", body)
	}

	installBuild(t, url, 2, docs2, true)
	eventually(t, "build 2 served after its NOTIFY", func() error {
		resp, body := do(t, c, "GET", base+"/products/1")
		if !bytes.Equal(body, docs2[0].Product) {
			return fmt.Errorf("still %s (ETag %s)", body, resp.Header.Get("Etag"))
		}
		return nil
	})
	checkBuild := func(id int64, docs []doc) {
		t.Helper()
		for _, tc := range []struct {
			path   string
			status int
			body   []byte
		}{
			{"/products/1", 200, docs[0].Product},
			{"/products/1/related", 200, docs[0].Related},
			{"/products?count=10", 200, listBody(docs, 1, 10)},
			{"/products/9", 404, []byte(`{"error":"product 9 not found"}`)},
			{"/products/10", 200, docs[len(docs)-1].Product},
		} {
			resp, body := do(t, c, "GET", base+tc.path)
			if resp.StatusCode != tc.status || !bytes.Equal(body, tc.body) {
				t.Errorf("build %d: GET %s: %d %s, want %d %s", id, tc.path, resp.StatusCode, body, tc.status, tc.body)
			}
			tag := pgtest.ETag(tc.body, "")
			if strings.HasPrefix(tc.path, "/products?") {
				tag = pgtest.ListETag(tc.body, "")
			}
			if tc.status == 200 && resp.Header.Get("Etag") != tag {
				t.Errorf("build %d: GET %s: ETag %s", id, tc.path, resp.Header.Get("Etag"))
			}
		}
		resp, body := do(t, c, "GET", base+"/products/1/styles", "Accept-Encoding", "gzip")
		if resp.Header.Get("Etag") != pgtest.ETag(docs[0].Styles, "-gz") || len(body) == 0 {
			t.Errorf("build %d: gzip variant: ETag %s", id, resp.Header.Get("Etag"))
		}
	}
	checkBuild(2, docs2)

	// Build 3 is swapped in without a NOTIFY: the poll finds it.
	docs3 := build2(t)
	docs3[0].Product = bytes.Replace(docs3[0].Product, []byte("Camo Onesie II"), []byte("Camo Onesie III"), 1)
	docs3[0].ListItem = bytes.Replace(docs3[0].ListItem, []byte("Camo Onesie II"), []byte("Camo Onesie III"), 1)
	installBuild(t, url, 3, docs3, false)
	eventually(t, "build 3 served, found by polling", func() error {
		if _, body := do(t, c, "GET", base+"/products/1"); !bytes.Equal(body, docs3[0].Product) {
			return fmt.Errorf("still %s", body)
		}
		return nil
	})
	checkBuild(3, docs3)

	_, metrics := do(t, c, "GET", base+"/metrics")
	if !bytes.Contains(metrics, []byte("\nelier_live_build_id 3\n")) {
		t.Errorf("/metrics does not say build 3")
	}

	// A rollback makes the older build 2 live again, as the loader's
	// rollback does it: the API goes back too, though 3 is newer.
	execSQL(t, url, sqlfiles.Expand(sqlfiles.Must("swap.sql"), "docs_schema", "elier_b2", "build_id", "2"))
	eventually(t, "build 2 served again after the rollback", func() error {
		if _, body := do(t, c, "GET", base+"/products/1"); !bytes.Equal(body, docs2[0].Product) {
			return fmt.Errorf("still %s", body)
		}
		return nil
	})
	checkBuild(2, docs2)
}

// TestNoBuildYet: before the first load, product routes and /readyz are
// 503 with Retry-After, and the first build is picked up when it comes.
func TestNoBuildYet(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	base := startAPI(t, url)
	c := newClient(t)
	for _, p := range []string{"/products/1", "/products/1/styles", "/products/1/related", "/products", "/products/?page=3"} {
		resp, body := do(t, c, "GET", base+p)
		wantError(t, resp, body, 503)
		if string(body) != `{"error":"no catalogue build is live yet"}` || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: %s, Retry-After %q", p, body, resp.Header.Get("Retry-After"))
		}
	}
	resp, body := do(t, c, "GET", base+"/readyz")
	wantError(t, resp, body, 503)
	if resp, _ := do(t, c, "GET", base+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}

	docs := build1(t)
	installBuild(t, url, 1, docs, false)
	eventually(t, "the first build served", func() error {
		resp, body := do(t, c, "GET", base+"/products/2/styles")
		if resp.StatusCode != 200 || !bytes.Equal(body, docs[1].Styles) {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	})
	if resp, body := do(t, c, "GET", base+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
}

// TestDatabaseUnreachable: an API whose database never answers still
// starts, is alive, is not ready, and answers 503 with Retry-After: 1.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	base := startAPI(t, "postgres://elier@"+closed+"/nope?sslmode=disable&connect_timeout=1")
	c := newClient(t)
	if resp, _ := do(t, c, "GET", base+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	for _, p := range []string{"/readyz", "/products/1", "/products/1/styles", "/products?page=2"} {
		resp, body := do(t, c, "GET", base+p)
		wantError(t, resp, body, 503)
		if string(body) != `{"error":"database unavailable"}` || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("GET %s: %s, Retry-After %q", p, body, resp.Header.Get("Retry-After"))
		}
	}
	_, metrics := do(t, c, "GET", base+"/metrics")
	if !bytes.Contains(metrics, []byte("\nelier_db_up 0\n")) {
		t.Errorf("/metrics does not say the database is down")
	}
}

// TestDatabaseComesBack: while the database refuses connections (its
// backends killed, new ones refused) the API is not ready, serves what it
// has cached and answers 503 for the rest; when it takes connections
// again, the pool and the API recover by themselves.
func TestDatabaseComesBack(t *testing.T) {
	t.Parallel()
	base, url, docs := seeded(t)
	c := newClient(t)
	if resp, _ := do(t, c, "GET", base+"/products/1"); resp.StatusCode != 200 {
		t.Fatalf("warming: %d", resp.StatusCode)
	}
	pc, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	name := pc.Database
	admin := pgtest.URL(t)
	ident := pgx.Identifier{name}.Sanitize()
	execSQL(t, admin, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false")
	t.Cleanup(func() { execSQL(t, admin, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true") })
	execSQL(t, admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)

	eventually(t, "not ready while the database is away", func() error {
		if resp, _ := do(t, c, "GET", base+"/readyz"); resp.StatusCode != 503 {
			return fmt.Errorf("/readyz: %d", resp.StatusCode)
		}
		return nil
	})
	resp, body := do(t, c, "GET", base+"/products/2")
	wantError(t, resp, body, 503)
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp, body := do(t, c, "GET", base+"/products/1"); resp.StatusCode != 200 || !bytes.Equal(body, docs[0].Product) {
		t.Errorf("cached product while the database is away: %d %s", resp.StatusCode, body)
	}

	execSQL(t, admin, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true")
	eventually(t, "ready again", func() error {
		if resp, body := do(t, c, "GET", base+"/readyz"); resp.StatusCode != 200 {
			return fmt.Errorf("/readyz: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	if resp, body := do(t, c, "GET", base+"/products/2"); resp.StatusCode != 200 || !bytes.Equal(body, docs[1].Product) {
		t.Errorf("after the database came back: %d %s", resp.StatusCode, body)
	}
}

// lockDocs holds an exclusive lock on build 1's docs table, so that every
// read of it waits, until the returned release is called.
func lockDocs(t *testing.T, url string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE elier_b1.docs IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_ = tx.Rollback(ctx)
		conn.Close(ctx)
	}
	t.Cleanup(release)
	return release
}

// TestSlowDatabase: a read that outlives --db-timeout is a 503 with
// Retry-After: 1, and the next one after the database is fast is served.
func TestSlowDatabase(t *testing.T) {
	t.Parallel()
	base, url, docs := seeded(t, func(c *Config) { c.DBTimeout = 300 * time.Millisecond })
	c := newClient(t)
	release := lockDocs(t, url)
	for _, p := range []string{"/products/3", "/products/3/styles", "/products?page=2"} {
		resp, body := do(t, c, "GET", base+p)
		wantError(t, resp, body, 503)
		if resp.Header.Get("Retry-After") != "1" {
			t.Errorf("GET %s: Retry-After %q", p, resp.Header.Get("Retry-After"))
		}
	}
	release()
	eventually(t, "served once the database is fast again", func() error {
		resp, body := do(t, c, "GET", base+"/products/3")
		if resp.StatusCode != 200 || !bytes.Equal(body, docs[2].Product) {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	})
}

// TestGracefulShutdown: on cancel (SIGTERM in main), the API stops
// accepting, lets the request in flight finish, and Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	docs := build1(t)
	installBuild(t, url, 1, docs, false)
	cfg := DefaultConfig()
	cfg.DatabaseURL, cfg.DBTimeout = url, time.Minute
	cfg.Prefill = false // the request must go to the database
	ln, cancel, done := runUntilCancel(t, cfg)
	base := "http://" + ln.Addr().String()
	c := newClient(t)

	release := lockDocs(t, url)
	type result struct {
		status int
		body   []byte
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := c.Get(base + "/products/4")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		inflight <- result{resp.StatusCode, buf.Bytes(), err}
	}()
	// Wait until the request is waiting on the lock, then ask to stop.
	eventually(t, "the request waits on the lock", func() error {
		var n int
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		conn, err := pgx.Connect(cctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(cctx)
		if err := conn.QueryRow(cctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'elier-api' AND wait_event_type = 'Lock'").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no API query waits")
		}
		return nil
	})
	cancel()
	eventually(t, "new connections refused", func() error {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			conn.Close()
			return fmt.Errorf("still accepting")
		}
		return nil
	})
	release()
	r := <-inflight
	if r.err != nil || r.status != 200 || !bytes.Equal(r.body, docs[3].Product) {
		t.Errorf("the in-flight request: %v %d %s", r.err, r.status, r.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	c.CloseIdleConnections()
	if resp, err := c.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("still serving after Run returned")
	}
}

// TestNewerRow: a row of a build newer than the live one (its NOTIFY still
// on the way) drops that product's entries at once, asks for a poll, and
// stops caching until the new build is adopted, so that no request is
// answered from an older body after it.
func TestNewerRow(t *testing.T) {
	t.Parallel()
	s := &server{log: slog.New(slog.DiscardHandler), cache: newCache(1 << 20), pollNow: make(chan struct{}, 1)}
	s.build.Store(1)
	s.newestRow.Store(1)
	r := &resource{key: cacheKey{res: docKey(routeStyles, 5)}, seen: 1, hash: 7}
	s.putIfLive(r, encIdentity, 200, true, 0, []byte("old"))
	if _, ok := s.cache.get(nil, r.key, encIdentity, 0); !ok {
		t.Fatal("a body of the live build was not cached")
	}
	s.newerRow(2, 5)
	if _, ok := s.cache.get(nil, r.key, encIdentity, 0); ok {
		t.Error("the product's entry survived a row of a newer build")
	}
	select {
	case <-s.pollNow:
	default:
		t.Error("no poll asked for")
	}
	if s.build.Load() != 1 {
		t.Error("a row adopted the build; only the database's word (poll, NOTIFY) does")
	}
	s.putIfLive(r, encIdentity, 200, true, 0, []byte("old, in flight"))
	if _, ok := s.cache.get(nil, r.key, encIdentity, 0); ok {
		t.Error("a body of the old build was cached after a newer build was seen")
	}
}

// metricValue reads one unlabelled sample from /metrics.
// waitLiveBuild waits until the API at base says build id is live.
func waitLiveBuild(t *testing.T, c *http.Client, base string, id float64) {
	t.Helper()
	eventually(t, fmt.Sprintf("build %v adopted", id), func() error {
		if v := metricValue(t, c, base, "elier_live_build_id"); v != id {
			return fmt.Errorf("live build %v", v)
		}
		return nil
	})
}

func metricValue(t *testing.T, c *http.Client, base, name string) float64 {
	t.Helper()
	_, body := do(t, c, "GET", base+"/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestCacheSurvivesRebuild: a new build based on the live one drops from
// the cache only the products it changed, added or removed; an unchanged
// product is still a cache hit with the same ETag (so a client's copy
// revalidates with a 304), and a changed one is never served old.
func TestCacheSurvivesRebuild(t *testing.T) {
	t.Parallel()
	base, url, docs1 := seeded(t)
	c := newClient(t)
	paths := []string{"/products/1", "/products/2", "/products/2/styles", "/products/3/related", "/products/10"}
	tags := map[string]string{}
	for _, p := range paths {
		resp, _ := do(t, c, "GET", base+p)
		tags[p] = resp.Header.Get("Etag")
	}
	docs2 := build2(t) // product 1 changed, 9 removed, 10 added
	installBuild(t, url, 2, docs2, true)
	waitLiveBuild(t, c, base, 2)
	hits := metricValue(t, c, base, "elier_cache_hits_total")
	for _, p := range []string{"/products/2", "/products/2/styles", "/products/3/related"} {
		resp, body := do(t, c, "GET", base+p, "If-None-Match", tags[p])
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s with its build-1 ETag: %d, want 304", p, resp.StatusCode)
		}
	}
	if got := metricValue(t, c, base, "elier_cache_hits_total"); got != hits+3 {
		t.Errorf("cache hits %v -> %v: unchanged products were dropped at the swap", hits, got)
	}
	resp, body := do(t, c, "GET", base+"/products/1", "If-None-Match", tags["/products/1"])
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs2[0].Product) {
		t.Errorf("changed product 1: %d %s, want its new body", resp.StatusCode, body)
	}
	if !bytes.Equal(docs1[0].Product, docs2[0].Product) && resp.Header.Get("Etag") == tags["/products/1"] {
		t.Error("changed product 1 kept its ETag")
	}
	if resp, _ := do(t, c, "GET", base+"/products/10"); resp.StatusCode != http.StatusOK {
		t.Errorf("added product 10: %d (its cached 404 survived the swap)", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", base+"/products/9"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed product 9: %d", resp.StatusCode)
	}
}

// TestShutdownClosesUnusedConnections: a connection opened and never used
// (an HTTP client's pool dials ahead) does not hold a graceful shutdown to
// its deadline: Run returns nil, and the connection is closed. fasthttp
// alone counts a new connection as idle only 5 s after it was accepted, so
// with a 3-s deadline Run returned "context deadline exceeded".
func TestShutdownClosesUnusedConnections(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	installBuild(t, url, 1, build1(t), false)
	cfg := DefaultConfig()
	cfg.DatabaseURL, cfg.ShutdownTimeout = url, 3*time.Second
	ln, cancel, done := runUntilCancel(t, cfg)
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(200 * time.Millisecond) // accepted by the server
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel, with a connection never used: %v, want nil", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Errorf("the unused connection is still open (read %d bytes)", n)
	}
}

// runUntilCancel runs the API with cfg on a fresh loopback listener until
// cancel (SIGTERM in main), once it answers /healthz; done gets Run's
// result.
func runUntilCancel(t *testing.T, cfg Config) (ln net.Listener, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	result := make(chan error, 1)
	go func() { result <- Run(ctx, cfg) }()
	c := newClient(t)
	eventually(t, "up", func() error {
		resp, err := c.Get("http://" + ln.Addr().String() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return ln, cancel, result
}
