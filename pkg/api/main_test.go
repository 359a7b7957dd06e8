package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/elier/catalogue/internal/pgtest"
	sqlfiles "github.com/elier/catalogue/sql"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide goroutines: the Date header's refresher
		// and the pool of workers that run compression on big stacks.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
		// A stopped server's idle-worker cleaner sees the stop only when its
		// sleep (MaxIdleWorkerDuration, 10 s) ends.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// doc is one product's documents as a build stores them: the exact bytes
// of the four response bodies.
type doc = pgtest.Doc

// loadDocs reads testdata documents (readable, indented JSON values) and
// compacts each into the bytes a build would store, ordered by id.
func loadDocs(t testing.TB, path string) []doc {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in []struct {
		ID       int32           `json:"id"`
		ListItem json.RawMessage `json:"list_item"`
		Product  json.RawMessage `json:"product"`
		Styles   json.RawMessage `json:"styles"`
		Related  json.RawMessage `json:"related"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	compact := func(b []byte) []byte {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return buf.Bytes()
	}
	docs := make([]doc, len(in))
	for i, d := range in {
		docs[i] = doc{ID: d.ID, ListItem: compact(d.ListItem), Product: compact(d.Product),
			Styles: compact(d.Styles), Related: compact(d.Related)}
	}
	slices.SortFunc(docs, func(a, b doc) int { return int(a.ID - b.ID) })
	return docs
}

// build1 is the atelier-sample fixture's nine products, as the reference
// API answered for them (CSV ids in place of the reference's).
func build1(t testing.TB) []doc { return loadDocs(t, "testdata/build1.json") }

// build2 is build1 changed the way a new export changes it: product 1
// renamed, product 9 gone, product 10 new.
func build2(t testing.TB) []doc {
	docs := build1(t)
	d1 := &docs[0]
	d1.ListItem = bytes.Replace(d1.ListItem, []byte("Camo Onesie"), []byte("Camo Onesie II"), 1)
	d1.Product = bytes.Replace(d1.Product, []byte("Camo Onesie"), []byte("Camo Onesie II"), 1)
	d1.Related = []byte("[3,2]")
	docs = docs[:8]
	return append(docs, doc{
		ID:       10,
		ListItem: []byte(`{"id":10,"name":"Infinity Stone","slogan":"Reality is often disappointing","description":"That is, it was.","category":"Accessories","default_price":"50.00"}`),
		Product:  []byte(`{"id":10,"name":"Infinity Stone","slogan":"Reality is often disappointing","description":"That is, it was.","category":"Accessories","default_price":"50.00","features":[]}`),
		Styles:   []byte(`{"product_id":"10","results":[]}`),
		Related:  []byte(`[]`),
	})
}

// listBody is what GET /products answers for positions first..last of docs.
func listBody(docs []doc, first, last int) []byte {
	b := []byte{'['}
	for i := first; i <= last && i <= len(docs); i++ {
		if i > first {
			b = append(b, ',')
		}
		b = append(b, docs[i-1].ListItem...)
	}
	return append(b, ']')
}

// newCatalog returns the URL of a fresh database with the catalogue's
// control schema, the cart's, and no build yet.
func newCatalog(t testing.TB) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	execSQL(t, url, sqlfiles.Must("catalog.sql"))
	execSQL(t, url, sqlfiles.Must("cart.sql"))
	return url
}

func execSQL(t testing.TB, url, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// installBuild does what the loader's swap does, by hand (pgtest):
// build id holding docs made live, based on the live build when there is
// one, with the NOTIFY when notify.
func installBuild(t testing.TB, url string, id int64, docs []doc, notify bool) {
	t.Helper()
	var live int64
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM elier.builds WHERE state = 'live'").Scan(&live); err != nil {
		t.Fatal(err)
	}
	pgtest.InstallBuild(t, url, id, docs, live, notify)
}

// startAPI runs the API (Run, as main does) on a free port against url,
// and stops it when the test ends, failing the test if Run fails.
func startAPI(t testing.TB, url string, opts ...func(*Config)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.DatabaseURL = url
	cfg.PollInterval = 200 * time.Millisecond
	// The tests of the cache count its hits and misses request by request:
	// no background prefill unless a test asks for it (TestPrefill).
	cfg.Prefill = false
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	c := newClient(t)
	for i := 0; ; i++ {
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if i == 100 {
			t.Fatalf("the API did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newClient is an HTTP client that shows responses as sent: no transparent
// gzip, no redirects followed.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request; headers alternate names and values.
func do(t testing.TB, c *http.Client, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, c, method, url, "", headers...)
}

// send sends one request with a body (none when empty).
func send(t testing.TB, c *http.Client, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, b
}

// eventually polls f until it returns nil, failing with its last error
// after a generous bound (the API is to see a build within a second or two;
// this is a deadline for a broken test, not a performance assertion).
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantStatus checks a status and, for errors, the JSON error body.
func wantError(t testing.TB, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d (body %s)", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", resp.Request.URL, ct)
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	var e struct {
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || *e.Error == "" {
		t.Errorf("%s: error body %s is not {\"error\": \"...\"} (%v)", resp.Request.URL, body, err)
	}
}
