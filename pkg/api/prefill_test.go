package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// TestPrefill: with --prefill the API fills its cache with the whole live
// catalogue at start, so that a product's first request is already a hit
// (served from memory, not from PostgreSQL); after a swap that changed
// some products it fills in those, with their new bodies.
func TestPrefill(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	docs := build1(t)
	installBuild(t, url, 1, docs, true)
	base := startAPI(t, url, func(c *Config) { c.Prefill = true })
	c := newClient(t)
	waitPrefilled := func(what string, want int) {
		t.Helper()
		eventually(t, what, func() error {
			if v := metricValue(t, c, base, "elier_cache_prefilled_total"); v != float64(want) {
				return fmt.Errorf("%v documents prefilled, want %d", v, want)
			}
			return nil
		})
	}
	waitPrefilled("the catalogue prefilled at start", 3*len(docs))
	waitItems(t, c, base, 1)
	// From memory, a product document is kept as its pieces and sent in
	// gzip, though under stored.MinCoded.
	if resp, body := do(t, c, "GET", base+"/products/1", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" ||
		!bytes.Equal(decodeBody(t, "gzip", body), docs[0].Product) {
		t.Errorf("product 1 from memory: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	// Every document, as a browser and as a client without coding: all
	// hits, the right bytes.
	check := func(docs []doc) {
		t.Helper()
		misses := metricValue(t, c, base, "elier_cache_misses_total")
		for _, d := range docs {
			id := strconv.Itoa(int(d.ID))
			for path, want := range map[string][]byte{"": d.Product, "/styles": d.Styles, "/related": d.Related} {
				for _, ae := range []string{"gzip, deflate, br", ""} {
					resp, body := do(t, c, "GET", base+"/products/"+id+path, "Accept-Encoding", ae)
					if got := decodeBody(t, resp.Header.Get("Content-Encoding"), body); resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
						t.Errorf("GET /products/%s%s (%q): %d %.100q, want %.100q", id, path, ae, resp.StatusCode, got, want)
					}
				}
			}
		}
		// List pages, from memory: the packed list items (listitems.go).
		pages := metricValue(t, c, base, "elier_list_pages_from_items_total")
		for _, pc := range [][2]int{{1, 5}, {2, 3}, {1, 1000}, {4, 2}} {
			first, last := (pc[0]-1)*pc[1]+1, min(pc[0]*pc[1], len(docs))
			path := fmt.Sprintf("/products?page=%d&count=%d", pc[0], pc[1])
			for _, ae := range []string{"gzip, deflate, br", ""} {
				resp, body := do(t, c, "GET", base+path, "Accept-Encoding", ae)
				want := listBody(docs, first, last)
				if got := decodeBody(t, resp.Header.Get("Content-Encoding"), body); resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
					t.Errorf("GET %s (%q): %d %.100q, want %.100q", path, ae, resp.StatusCode, got, want)
				}
			}
		}
		if got := metricValue(t, c, base, "elier_list_pages_from_items_total"); got != pages+8 {
			t.Errorf("list pages from the packed items %v -> %v, want 8 more", pages, got)
		}
		if got := metricValue(t, c, base, "elier_cache_misses_total"); got != misses {
			t.Errorf("cache misses %v -> %v: documents were read from the database", misses, got)
		}
	}
	check(docs)

	docs2 := build2(t) // product 1 changed, 9 removed, 10 added
	installBuild(t, url, 2, docs2, true)
	waitLiveBuild(t, c, base, 2)
	waitPrefilled("products 1 and 10 prefilled after the swap", 3*len(docs)+3*2)
	waitItems(t, c, base, 2)
	// Build 2 was built on build 1: its items are build 1's, but for the
	// changed products, not all read again.
	if p, r := metricValue(t, c, base, "elier_list_items_packed_total"), metricValue(t, c, base, "elier_list_items_repacked_total"); p != 1 || r != 1 {
		t.Errorf("list items packed whole %v times, repacked %v; want 1 and 1", p, r)
	}
	check(docs2)
	if resp, _ := do(t, c, "GET", base+"/products/9"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed product 9: %d", resp.StatusCode)
	}
}

// TestPrefillBounded: a catalogue larger than its share of the cache is
// prefilled only up to 90% of the capacity, and requests for the rest
// still get the right bytes.
func TestPrefillBounded(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	// 40 products of about 1 MB of incompressible styles each (stored as
	// they are): 40 MB against a 32 MiB cache.
	var docs []doc
	for i := int32(1); i <= 40; i++ {
		d := build1(t)[0]
		d.ID = i
		d.Styles = append([]byte(`{"product_id":"`+strconv.Itoa(int(i))+`","results":[],"x":"`), noise(1<<20, uint32(i))...)
		d.Styles = append(d.Styles, `"}`...)
		docs = append(docs, d)
	}
	installBuild(t, url, 1, docs, true)
	base := startAPI(t, url, func(c *Config) { c.Prefill = true; c.CacheMB = 32 })
	c := newClient(t)
	eventually(t, "prefill stopped", func() error {
		v := metricValue(t, c, base, "elier_cache_prefilled_total")
		if v == 0 || v >= float64(3*len(docs)) {
			return fmt.Errorf("%v documents prefilled; want some, not all %d", v, 3*len(docs))
		}
		return nil
	})
	for _, d := range []doc{docs[0], docs[len(docs)-1]} {
		resp, body := do(t, c, "GET", base+"/products/"+strconv.Itoa(int(d.ID))+"/styles")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, d.Styles) {
			t.Errorf("styles of %d: %d, %d bytes, want %d", d.ID, resp.StatusCode, len(body), len(d.Styles))
		}
	}
}

// noise is n printable bytes gzip cannot shrink much (base-64-like).
func noise(n int, seed uint32) []byte {
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = abc[x&63]
	}
	return b
}

// waitItems waits until the API at base has packed build id's list items.
func waitItems(t *testing.T, c *http.Client, base string, id float64) {
	t.Helper()
	eventually(t, fmt.Sprintf("build %v's list items packed", id), func() error {
		if v := metricValue(t, c, base, "elier_list_items_build_id"); v != id {
			return fmt.Errorf("list items of build %v", v)
		}
		if v := metricValue(t, c, base, "elier_list_items_bytes"); v <= 0 {
			return fmt.Errorf("list items of %v bytes", v)
		}
		return nil
	})
}
