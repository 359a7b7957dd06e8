package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/elier/catalogue/internal/pgtest"
)

// seeded starts the API on a database holding build 1.
func seeded(t *testing.T, opts ...func(*Config)) (base string, url string, docs []doc) {
	t.Helper()
	url = newCatalog(t)
	docs = build1(t)
	installBuild(t, url, 1, docs, true)
	return startAPI(t, url, opts...), url, docs
}

func TestProductRoutes(t *testing.T) {
	t.Parallel()
	base, _, docs := seeded(t)
	c := newClient(t)
	for _, d := range docs {
		for _, r := range []struct {
			path, tag string
			want      []byte
		}{
			{fmt.Sprintf("/products/%d", d.ID), "p", d.Product},
			{fmt.Sprintf("/products/%d/styles", d.ID), "s", d.Styles},
			{fmt.Sprintf("/products/%d/related", d.ID), "r", d.Related},
		} {
			// Twice each: the second answer comes from the cache.
			for _, path := range []string{r.path, r.path + "/", r.path} {
				resp, body := do(t, c, "GET", base+path)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
				}
				if !bytes.Equal(body, r.want) {
					t.Errorf("GET %s:\n got %s\nwant %s", path, body, r.want)
				}
				for h, want := range map[string]string{
					"Content-Type":                "application/json",
					"Etag":                        pgtest.ETag(r.want, ""),
					"Cache-Control":               "public, max-age=60, stale-while-revalidate=60, stale-if-error=86400",
					"Vary":                        "Accept-Encoding",
					"Access-Control-Allow-Origin": "*",
					"Content-Length":              strconv.Itoa(len(r.want)),
				} {
					if got := resp.Header.Get(h); got != want {
						t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
					}
				}
			}
		}
	}
	// The fixture's own checks (fixtures/atelier-sample/README.md).
	_, body := do(t, c, "GET", base+"/products/1/related")
	if string(body) != "[2,3,8,7]" {
		t.Errorf("/products/1/related = %s, want [2,3,8,7]", body)
	}
	// Leading zeros are digits: 007 is 7.
	resp, body := do(t, c, "GET", base+"/products/007")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs[6].Product) {
		t.Errorf("/products/007: %d %s", resp.StatusCode, body)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	base, _, docs := seeded(t, func(c *Config) { c.MaxAge = 5 })
	c := newClient(t)
	for _, tc := range []struct {
		query       string
		first, last int
		etag        string
	}{
		{"", 1, 5, `"b1-l-1-5"`},
		{"?page=1&count=5", 1, 5, `"b1-l-1-5"`},
		{"?page=2&count=3", 4, 6, `"b1-l-2-3"`},
		{"?count=4&page=3", 9, 12, `"b1-l-3-4"`},
		{"?page=4&count=3", 10, 9, `"b1-l-4-3"`},
		{"?count=1000", 1, 1000, `"b1-l-1-1000"`},
		{"?count=75", 1, 75, `"b1-l-1-75"`},
		{"?page=2", 6, 10, `"b1-l-2-5"`},
		{"?page=2147483647&count=1000", 1, 0, `"b1-l-2147483647-1000"`},
		{"?page=1&count=1&page=9", 1, 1, `"b1-l-1-1"`}, // the first of a repeated parameter
		{"?other=x", 1, 5, `"b1-l-1-5"`},
	} {
		for _, path := range []string{"/products" + tc.query, "/products/" + tc.query} {
			resp, body := do(t, c, "GET", base+path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			want := listBody(docs, tc.first, tc.last)
			if tc.first > tc.last || tc.first > len(docs) {
				want = []byte("[]")
			}
			if !bytes.Equal(body, want) {
				t.Errorf("GET %s:\n got %s\nwant %s", path, body, want)
			}
			if got := resp.Header.Get("Etag"); got != pgtest.ListETag(want, "") {
				t.Errorf("GET %s: ETag %s, want %s", path, got, pgtest.ListETag(want, ""))
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=5, stale-while-revalidate=60, stale-if-error=86400" {
				t.Errorf("GET %s: Cache-Control %q", path, got)
			}
		}
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t)
	c := newClient(t)
	for _, path := range []string{"/products", "/products/?count=3", "/products/1", "/products/1/styles/", "/products/1/related",
		"/healthz", "/readyz", "/openapi.json", "/products/99", "/products/x", "/nope"} {
		for _, ae := range []string{"", "gzip", "br"} {
			get, getBody := do(t, c, "GET", base+path, "Accept-Encoding", ae)
			head, headBody := do(t, c, "HEAD", base+path, "Accept-Encoding", ae)
			if head.StatusCode != get.StatusCode {
				t.Errorf("HEAD %s: %d, GET %d", path, head.StatusCode, get.StatusCode)
			}
			if len(headBody) != 0 {
				t.Errorf("HEAD %s: a body of %d bytes", path, len(headBody))
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Etag", "Cache-Control", "Vary", "Access-Control-Allow-Origin"} {
				if g, h2 := get.Header.Get(h), head.Header.Get(h); g != h2 {
					t.Errorf("%s (Accept-Encoding %q): GET has %s %q, HEAD %q", path, ae, h, g, h2)
				}
			}
			if cl := head.Header.Get("Content-Length"); cl != strconv.Itoa(len(getBody)) {
				t.Errorf("HEAD %s: Content-Length %s, GET's body is %d bytes", path, cl, len(getBody))
			}
		}
	}
}

// TestErrors walks the contract's error table.
func TestErrors(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t)
	c := newClient(t)
	const (
		badID    = `{"error":"product_id must be a positive 32-bit integer"}`
		badPage  = `{"error":"page must be a positive 32-bit integer"}`
		badCount = `{"error":"count must be an integer from 1 to 1000"}`
		noRoute  = `{"error":"not found"}`
		method   = `{"error":"method not allowed: use GET, HEAD or OPTIONS"}`
	)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/products/0", 400, badID},
		{"GET", "/products/-1", 400, badID},
		{"GET", "/products/+1", 400, badID},
		{"GET", "/products/%2B1", 400, badID},
		{"GET", "/products/%201", 400, badID},
		{"GET", "/products/1%20", 400, badID},
		{"GET", "/products/1.0", 400, badID},
		{"GET", "/products/1e3", 400, badID},
		{"GET", "/products/0x10", 400, badID},
		{"GET", "/products/abc", 400, badID},
		{"GET", "/products/2147483648", 400, badID},
		{"GET", "/products/99999999999999999999999", 400, badID},
		{"GET", "/products/%E2%91%A0", 400, badID},
		{"GET", "/products/0/styles", 400, badID},
		{"GET", "/products/x/related/", 400, badID},
		{"GET", "/products/10", 404, `{"error":"product 10 not found"}`},
		{"GET", "/products/10", 404, `{"error":"product 10 not found"}`}, // negative-cached
		{"GET", "/products/10/styles", 404, `{"error":"product 10 not found"}`},
		{"GET", "/products/10/related/", 404, `{"error":"product 10 not found"}`},
		{"GET", "/products/2147483647", 404, `{"error":"product 2147483647 not found"}`},
		{"GET", "/products/1/foo", 404, noRoute},
		{"GET", "/products/1/styles/x", 404, noRoute},
		{"GET", "/products/1/styles//", 200, ""},
		{"GET", "/product", 404, noRoute},
		{"GET", "/", 404, noRoute},
		{"GET", "/nope", 404, noRoute},
		{"GET", "/products?page=0", 400, badPage},
		{"GET", "/products?page=-1", 400, badPage},
		{"GET", "/products?page=abc", 400, badPage},
		{"GET", "/products?page=", 400, badPage},
		{"GET", "/products?page", 400, badPage},
		{"GET", "/products?page=1.5", 400, badPage},
		{"GET", "/products?page=%2B1", 400, badPage},
		{"GET", "/products?page=+1", 400, badPage},
		{"GET", "/products?page=2147483648", 400, badPage},
		{"GET", "/products/?page=1&count=0", 400, badCount},
		{"GET", "/products?count=1001", 400, badCount},
		{"GET", "/products?count=", 400, badCount},
		{"GET", "/products?count=-5", 400, badCount},
		{"GET", "/products?count=99999999999", 400, badCount},
		{"POST", "/products", 405, method},
		{"PUT", "/products/1", 405, method},
		{"DELETE", "/products/1/styles", 405, method},
		{"PATCH", "/products/1/related/", 405, method},
		{"POST", "/healthz", 405, method},
		{"POST", "/nope", 404, noRoute},
	} {
		resp, body := do(t, c, tc.method, base+tc.path)
		if tc.status == 200 {
			if resp.StatusCode != 200 {
				t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
			}
			continue
		}
		wantError(t, resp, body, tc.status)
		if string(body) != tc.body {
			t.Errorf("%s %s: body %s, want %s", tc.method, tc.path, body, tc.body)
		}
		if allow := resp.Header.Get("Allow"); (tc.status == 405) != (allow == "GET, HEAD, OPTIONS") {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, allow)
		}
	}
}

func TestNotModified(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t)
	c := newClient(t)
	docs := build1(t)
	resp, _ := do(t, c, "GET", base+"/products/1/styles")
	etag := resp.Header.Get("Etag")
	if etag != pgtest.ETag(docs[0].Styles, "") {
		t.Fatalf("ETag %q, want %q", etag, pgtest.ETag(docs[0].Styles, ""))
	}
	gz, br := pgtest.ETag(docs[0].Styles, "-gz"), pgtest.ETag(docs[0].Styles, "-br")
	other := pgtest.ETag(docs[1].Styles, "")
	for _, tc := range []struct {
		inm, ae string
		status  int
		etag    string
	}{
		{etag, "", 304, etag},
		{"W/" + etag, "", 304, etag},
		{`"nope", ` + etag, "", 304, etag},
		{`"nope",W/` + etag + `,"x"`, "", 304, etag},
		{"*", "", 304, etag},
		{gz, "gzip", 304, gz},
		{etag, "br", 304, br},
		{other, "", 200, etag},
		{etag[:len(etag)-1] + `-x"`, "", 200, etag},
		{etag[1 : len(etag)-1], "", 200, etag},
		{etag[:len(etag)-1], "", 200, etag},
	} {
		resp, body := do(t, c, "GET", base+"/products/1/styles", "If-None-Match", tc.inm, "Accept-Encoding", tc.ae)
		if resp.StatusCode != tc.status {
			t.Errorf("If-None-Match %s: %d, want %d", tc.inm, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get("Etag"); got != tc.etag {
			t.Errorf("If-None-Match %s: ETag %s, want %s", tc.inm, got, tc.etag)
		}
		if tc.status == 304 {
			if len(body) != 0 {
				t.Errorf("304 with a body")
			}
			if resp.Header.Get("Cache-Control") == "" || resp.Header.Get("Vary") == "" {
				t.Errorf("304 without Cache-Control or Vary: %v", resp.Header)
			}
		}
	}
	resp, _ = do(t, c, "GET", base+"/products?count=2", "If-None-Match", pgtest.ListETag(listBody(docs, 1, 2), ""))
	if resp.StatusCode != 304 {
		t.Errorf("list: %d, want 304", resp.StatusCode)
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	base, _, docs := seeded(t)
	c := newClient(t)
	styles := docs[0].Styles // about 4 KB
	decode := map[string]func([]byte) ([]byte, error){
		"gzip": func(b []byte) ([]byte, error) {
			r, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		},
		"br": func(b []byte) ([]byte, error) { return io.ReadAll(brotli.NewReader(bytes.NewReader(b))) },
		"":   func(b []byte) ([]byte, error) { return b, nil },
	}
	// Documents are stored gzip-coded: every client that takes gzip gets
	// the stored bytes, whatever its q for br; br only when gzip is refused.
	for _, tc := range []struct{ ae, want string }{
		{"gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br", "gzip"},
		{"gzip, deflate, br, zstd", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"br;q=0.5, gzip;q=0.8", "gzip"},
		{"br;q=1, gzip;q=0.1", "gzip"},
		{"br, gzip;q=0", "br"},
		{"br, identity;q=0", "br"},
		{"gzip, identity;q=0", "gzip"},
		{"identity;q=0", ""}, // nothing else acceptable: no coding (RFC 9110 §12.5.3)
		{"GZIP", "gzip"},
		{"*", "gzip"},
		{"*;q=0.1, br;q=0", "gzip"},
		{"*, gzip;q=0", "br"},
		{"identity", ""},
		{"deflate", ""},
		{"gzip;q=0", ""},
		{"", ""},
	} {
		// Twice: compressed at the first request, kept in the cache after.
		for range 2 {
			resp, body := do(t, c, "GET", base+"/products/1/styles", "Accept-Encoding", tc.ae)
			if got := resp.Header.Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.ae, got, tc.want)
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q", resp.Header.Get("Vary"))
			}
			plain, err := decode[tc.want](body)
			if err != nil {
				t.Fatalf("Accept-Encoding %q: decoding: %v", tc.ae, err)
			}
			if !bytes.Equal(plain, styles) {
				t.Fatalf("Accept-Encoding %q: decoded body differs", tc.ae)
			}
			if tc.want != "" && len(body) >= len(styles) {
				t.Errorf("Accept-Encoding %q: %d bytes coded, %d plain", tc.ae, len(body), len(styles))
			}
			suffix := map[string]string{"gzip": "-gz", "br": "-br", "": ""}[tc.want]
			if got, want := resp.Header.Get("ETag"), pgtest.ETag(styles, suffix); got != want {
				t.Errorf("Accept-Encoding %q: ETag %s, want %s", tc.ae, got, want)
			}
		}
	}
	// Small bodies go out as they are.
	resp, body := do(t, c, "GET", base+"/products/1/related", "Accept-Encoding", "br, gzip")
	if resp.Header.Get("Content-Encoding") != "" || string(body) != "[2,3,8,7]" {
		t.Errorf("small body: Content-Encoding %q, body %q", resp.Header.Get("Content-Encoding"), body)
	}
	// Lists too.
	resp, body = do(t, c, "GET", base+"/products?count=9", "Accept-Encoding", "gzip")
	plain, err := decode["gzip"](body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(plain, listBody(docs, 1, 9)) {
		t.Errorf("list gzip: %q %v", resp.Header.Get("Content-Encoding"), err)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	t.Run("any", func(t *testing.T) {
		t.Parallel()
		base, _, _ := seeded(t)
		c := newClient(t)
		resp, body := do(t, c, "OPTIONS", base+"/products/1/styles",
			"Origin", "https://shop.example", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "if-none-match, x-trace")
		if resp.StatusCode != 204 || len(body) != 0 {
			t.Fatalf("preflight: %d %q", resp.StatusCode, body)
		}
		for h, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
			"Access-Control-Allow-Headers": "if-none-match, x-trace",
			"Access-Control-Max-Age":       "86400",
			"Allow":                        "GET, HEAD, OPTIONS",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("preflight: %s %q, want %q", h, got, want)
			}
		}
		resp, _ = do(t, c, "GET", base+"/products/1", "Origin", "https://shop.example")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("GET: Access-Control-Allow-Origin %q", got)
		}
		resp, _ = do(t, c, "OPTIONS", base+"/nope", "Origin", "https://shop.example")
		if resp.StatusCode != 404 {
			t.Errorf("OPTIONS /nope: %d", resp.StatusCode)
		}
	})
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		base, _, _ := seeded(t, func(c *Config) { c.CORSOrigins = []string{"https://a.example", "https://b.example"} })
		c := newClient(t)
		for _, tc := range []struct{ origin, want string }{
			{"https://b.example", "https://b.example"},
			{"https://evil.example", ""},
			{"", ""},
		} {
			resp, _ := do(t, c, "GET", base+"/products/1/styles", "Origin", tc.origin)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("Origin %q: Access-Control-Allow-Origin %q, want %q", tc.origin, got, tc.want)
			}
			if v := resp.Header.Get("Vary"); !strings.Contains(v, "Origin") || !strings.Contains(v, "Accept-Encoding") {
				t.Errorf("Origin %q: Vary %q", tc.origin, v)
			}
			resp, _ = do(t, c, "OPTIONS", base+"/products", "Origin", tc.origin, "Access-Control-Request-Method", "GET")
			if resp.StatusCode != 204 {
				t.Errorf("preflight from %q: %d", tc.origin, resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("preflight from %q: Access-Control-Allow-Origin %q, want %q", tc.origin, got, tc.want)
			}
			if (resp.Header.Get("Access-Control-Allow-Methods") != "") != (tc.want != "") {
				t.Errorf("preflight from %q: Access-Control-Allow-Methods %q", tc.origin, resp.Header.Get("Access-Control-Allow-Methods"))
			}
		}
	})
}

// rawRequest sends bytes as they are and reads one response.
func rawRequest(t *testing.T, base string, req []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestLimits(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t, func(c *Config) { c.ReadBufferSize = 4096; c.MaxRequestBodySize = 1024 })
	resp, body := rawRequest(t, base, []byte("POST /products HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	if resp.StatusCode != 413 || string(body) != `{"error":"request body too large"}` {
		t.Errorf("big body: %d %s", resp.StatusCode, body)
	}
	big := strings.Repeat("a", 8000)
	resp, body = rawRequest(t, base, []byte("GET /products/1 HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n"))
	if resp.StatusCode != 431 || string(body) != `{"error":"request headers too large"}` {
		t.Errorf("big header: %d %s", resp.StatusCode, body)
	}
	resp, body = rawRequest(t, base, []byte("GET /products/1 HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n"))
	if resp.StatusCode != 400 {
		t.Errorf("malformed: %d %s", resp.StatusCode, body)
	}
	// Still serving.
	resp, _ = rawRequest(t, base, []byte("GET /products/1 HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp.StatusCode != 200 {
		t.Errorf("after the errors: %d", resp.StatusCode)
	}
	// The errors are counted.
	_, metrics := do(t, newClient(t), "GET", base+"/metrics")
	for _, s := range []string{`route="invalid",status="413"`, `route="invalid",status="431"`} {
		if !bytes.Contains(metrics, []byte(s)) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

// TestReadTimeout: a connection that sends no request (or only part of
// one) within the read timeout is closed without an answer. A 408 written
// there would be read by a client that sends its request at that moment (a
// pre-opened connection, say) as the answer to that request; on a closed
// connection it retries instead.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	for _, sent := range []string{"", "GET /products/1 HTTP/1.1\r\nHost: x\r\n"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, sent); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || len(got) > 0 {
			t.Errorf("after sending %q: read %q, %v; want the connection closed, nothing written", sent, got, err)
		}
	}
	_, metrics := do(t, newClient(t), "GET", base+"/metrics")
	if !bytes.Contains(metrics, []byte(`route="invalid",status="408"`)) {
		t.Error("/metrics does not count the timeouts")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t)
	c := newClient(t)
	resp, body := do(t, c, "GET", base+"/healthz")
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, c, "GET", base+"/readyz/")
	if resp.StatusCode != 200 || string(body) != `{"status":"ready","build_id":1}` {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
}
