package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/stored"
)

// clientCodings are the Accept-Encoding headers of the clients every
// catalogue answer is checked for, and the Content-Encoding each must get
// for a body worth coding: documents are stored gzip-coded, so whoever
// takes gzip gets the stored bytes; br only when gzip is refused.
var clientCodings = []struct{ ae, want string }{
	{"", ""},
	{"gzip, deflate, br", "gzip"}, // browsers and CDNs
	{"gzip", "gzip"},
	{"br", "br"},
	{"gzip;q=0, br;q=0", ""},
	{"identity;q=0", ""}, // no coding acceptable: sent without one (RFC 9110 §12.5.3)
	{"br, identity;q=0", "br"},
}

// decodeBody decodes a response body by its Content-Encoding with the
// standard library's gzip and the brotli reference port, independently of
// the server's own coder.
func decodeBody(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		t.Fatalf("Content-Encoding %q", enc)
	}
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body: %v", enc, err)
	}
	return p
}

// getEveryCoding GETs url as each of clientCodings (and HEADs it, and
// revalidates it), checks that every answer has the same status, decodes to
// exactly the same bytes (the identity answer's) with the ETag of those
// bytes plus the coding's suffix, and that a body worth coding came in the
// coding the client should get: a 200 of at least stored.MinCoded bytes
// for a product document (coded at build time), of minCompress for a list
// page (coded by the API). It returns the status and the identity body.
func getEveryCoding(t testing.TB, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, plain := do(t, c, "GET", url)
	status := resp.StatusCode
	for _, cc := range clientCodings[1:] {
		resp, body := do(t, c, "GET", url, "Accept-Encoding", cc.ae)
		enc := resp.Header.Get("Content-Encoding")
		if resp.StatusCode != status {
			t.Fatalf("GET %s (Accept-Encoding %q): %d, without coding %d", url, cc.ae, resp.StatusCode, status)
		}
		if got := decodeBody(t, enc, body); !bytes.Equal(got, plain) {
			t.Fatalf("GET %s (Accept-Encoding %q, %s): decodes to %.200q, identity %.200q", url, cc.ae, enc, got, plain)
		}
		if status != http.StatusOK {
			continue
		}
		min, etag := stored.MinCoded, pgtest.ETag
		if path, _, _ := strings.Cut(url, "?"); strings.HasSuffix(strings.TrimSuffix(path, "/"), "/products") {
			min, etag = minCompress, pgtest.ListETag
		}
		worth := len(plain) >= min
		if worth && enc != cc.want || !worth && enc != "" && enc != cc.want {
			t.Errorf("GET %s (Accept-Encoding %q): Content-Encoding %q, want %q (%d bytes)", url, cc.ae, enc, cc.want, len(plain))
		}
		suffix := map[string]string{"": "", "gzip": "-gz", "br": "-br"}[enc]
		if got, want := resp.Header.Get("ETag"), etag(plain, suffix); got != want {
			t.Errorf("GET %s (Accept-Encoding %q): ETag %s, want %s", url, cc.ae, got, want)
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s: Vary %q", url, resp.Header.Get("Vary"))
		}
		// HEAD: the same headers, no body.
		h, hb := do(t, c, "HEAD", url, "Accept-Encoding", cc.ae)
		if h.StatusCode != status || len(hb) != 0 || h.Header.Get("ETag") != resp.Header.Get("ETag") ||
			h.Header.Get("Content-Encoding") != enc {
			t.Errorf("HEAD %s (Accept-Encoding %q): %d, %d body bytes, ETag %s, %q", url, cc.ae, h.StatusCode, len(hb),
				h.Header.Get("ETag"), h.Header.Get("Content-Encoding"))
		}
		// Revalidation with the coded ETag: 304.
		if nm, _ := do(t, c, "GET", url, "Accept-Encoding", cc.ae, "If-None-Match", resp.Header.Get("ETag")); nm.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s (Accept-Encoding %q) If-None-Match its ETag: %d", url, cc.ae, nm.StatusCode)
		}
	}
	return status, plain
}

// TestEveryCodingDirtyCorpus: every document of the dirty corpus, on every
// route, as every kind of client: each coding decodes to exactly the
// identity body (valid JSON), twice (a cache miss, then a hit).
//
// Twice over: with the cache filled by requests (list pages read from
// PostgreSQL, coded by the API), and prefilled (list pages put together
// from the packed list items' gzip pieces in memory); the two must answer
// the same bytes and ETags.
func TestEveryCodingDirtyCorpus(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	loadExportWith(t, url, "../loader/testdata/dirty", false, 1)
	bases := map[bool]string{false: startAPI(t, url), true: startAPI(t, url, func(c *Config) { c.Prefill = true })}
	c := newClient(t)
	eventually(t, "prefilled", func() error {
		if v := metricValue(t, c, bases[true], "elier_cache_prefilled_total"); v == 0 {
			return fmt.Errorf("nothing prefilled yet")
		}
		return nil
	})
	waitItems(t, c, bases[true], 1)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	err = conn.QueryRow(context.Background(), "SELECT array_agg(id ORDER BY id) FROM elier.docs").Scan(&ids)
	conn.Close(context.Background())
	if err != nil || len(ids) == 0 {
		t.Fatalf("the corpus's ids: %v, %v", ids, err)
	}
	coded := 0
	var paths []string
	for _, id := range append(ids, ids[len(ids)-1]+1) { // and one unknown id
		for _, route := range []string{"", "/styles", "/related"} {
			paths = append(paths, "/products/"+strconv.Itoa(int(id))+route)
		}
	}
	for _, page := range []string{"?count=5", "?page=2&count=3", "?count=1000", "?page=99", "?page=3&count=7"} {
		paths = append(paths, "/products"+page)
	}
	for range 2 {
		for _, path := range paths {
			status, body := getEveryCoding(t, c, bases[false]+path)
			if !json.Valid(body) {
				t.Fatalf("GET %s: not JSON: %.200q", path, body)
			}
			if status == http.StatusOK && len(body) >= stored.MinCoded {
				coded++
			}
			// From memory: the same answer, for every coding.
			pstatus, pbody := getEveryCoding(t, c, bases[true]+path)
			if pstatus != status || !bytes.Equal(pbody, body) {
				t.Fatalf("GET %s: prefilled %d %.100q, not prefilled %d %.100q", path, pstatus, pbody, status, body)
			}
			// The same ETag, but for the coding's suffix: from memory a
			// product document is sent in gzip however small (its pieces
			// are kept), from the database as stored.
			for _, ae := range []string{"", "gzip"} {
				a, _ := do(t, c, "GET", bases[false]+path, "Accept-Encoding", ae)
				b, _ := do(t, c, "GET", bases[true]+path, "Accept-Encoding", ae)
				ta, tb := strings.TrimSuffix(a.Header.Get("ETag"), `-gz"`), strings.TrimSuffix(b.Header.Get("ETag"), `-gz"`)
				if strings.TrimSuffix(ta, `"`) != strings.TrimSuffix(tb, `"`) {
					t.Errorf("GET %s (%q): ETag %s prefilled, %s not", path, ae, b.Header.Get("ETag"), a.Header.Get("ETag"))
				}
			}
		}
	}
	if n := metricValue(t, c, bases[true], "elier_list_pages_from_items_total"); n == 0 {
		t.Error("the prefilled API assembled no list page from its packed items: the test compared the database's path with itself")
	}
	if coded == 0 {
		t.Fatal("no document of the corpus is worth coding: the test checks nothing")
	}
}
