package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
	sqlfiles "github.com/elier/catalogue/sql"
)

// cartItem is one entry of GET /cart, decoded independently of the server's
// own encoder.
type cartItem struct {
	SkuID int `json:"sku_id"`
	Count int `json:"count"`
}

// withStock gives build 1 (installed by seeded) the given sku stock in
// place of its own and points elier.skus at it, as a swap would.
func withStock(t *testing.T, url string, stock map[int32]int32) {
	t.Helper()
	execSQL(t, url, "CREATE TABLE elier_b1.test_stock (id integer PRIMARY KEY, quantity integer NOT NULL)")
	for id, q := range stock {
		execSQL(t, url, "INSERT INTO elier_b1.test_stock VALUES ($1, $2)", id, q)
	}
	execSQL(t, url, "CREATE OR REPLACE VIEW elier.skus AS SELECT id, quantity FROM elier_b1.test_stock")
}

// cartAPI starts the API on a migrated catalogue with build 1 live and the
// given stock.
func cartAPI(t *testing.T, stock map[int32]int32, opts ...func(*Config)) (base, url string) {
	t.Helper()
	url = newCatalog(t)
	installBuild(t, url, 1, build1(t), true)
	withStock(t, url, stock)
	return startAPI(t, url, opts...), url
}

func getCart(t *testing.T, c *http.Client, base string, headers ...string) []cartItem {
	t.Helper()
	resp, body := send(t, c, "GET", base+"/cart", "", headers...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cart: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET /cart: Cache-Control %q", cc)
	}
	var items []cartItem
	if err := json.Unmarshal(body, &items); err != nil || items == nil {
		t.Fatalf("GET /cart: %s is not a JSON array (%v)", body, err)
	}
	return items
}

// TestCartStorefrontFlow drives the HTTP calls the Atelier storefront makes
// for "choose a size, ADD TO BAG twice": two POSTs of {"sku_id":"1"} with
// its JSON content type, its Origin and its Authorization header (or, for
// a storefront without one, the cookie the first POST sets), then GET /cart.
func TestCartStorefrontFlow(t *testing.T) {
	t.Parallel()
	const origin = "http://localhost:3000"
	base, _ := cartAPI(t, map[int32]int32{1: 8, 2: 16}, func(c *Config) { c.CORSOrigins = []string{origin} })
	c := newClient(t)
	want := []cartItem{{SkuID: 1, Count: 2}}

	t.Run("authorization", func(t *testing.T) {
		h := []string{"Content-Type", "application/json", "Origin", origin, "Authorization", "ghp_storefront0token"}
		for i := 1; i <= 2; i++ {
			resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":"1"}`, h...)
			if resp.StatusCode != 201 {
				t.Fatalf("POST %d: %d %s", i, resp.StatusCode, body)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("a cookie was set for a session named by Authorization")
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != origin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("POST: CORS headers %v", resp.Header)
			}
		}
		if got := getCart(t, c, base, "Origin", origin, "Authorization", "ghp_storefront0token"); !slices.Equal(got, want) {
			t.Fatalf("GET /cart: %v, want %v", got, want)
		}
		// Another session sees nothing of it.
		if got := getCart(t, c, base, "Authorization", "someone else"); len(got) != 0 {
			t.Fatalf("another session's cart: %v", got)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		h := []string{"Content-Type", "application/json", "Origin", origin}
		resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":"1"}`, h...)
		if resp.StatusCode != 201 {
			t.Fatalf("first POST: %d %s", resp.StatusCode, body)
		}
		ck := sessionCookie(t, resp)
		h = append(h, "Cookie", ck.Name+"="+ck.Value)
		if resp, body = send(t, c, "POST", base+"/cart", `{"sku_id":"1"}`, h...); resp.StatusCode != 201 {
			t.Fatalf("second POST: %d %s", resp.StatusCode, body)
		}
		if again := sessionCookie(t, resp); again.Value != ck.Value || again.MaxAge != ck.MaxAge {
			t.Errorf("the second POST set %q, want the same session renewed", resp.Header.Get("Set-Cookie"))
		}
		if got := getCart(t, c, base, "Cookie", ck.Name+"="+ck.Value); !slices.Equal(got, want) {
			t.Fatalf("GET /cart: %v, want %v", got, want)
		}
		if got := getCart(t, c, base); len(got) != 0 {
			t.Fatalf("no session, yet a cart: %v", got)
		}
	})
}

// sessionCookie returns the session cookie resp sets, checking its
// attributes.
func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	ck := cookies[0]
	if ck.Name != "elier_cart" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || len(ck.Value) < 22 {
		t.Fatalf("session cookie %q", resp.Header.Get("Set-Cookie"))
	}
	return ck
}

// TestCartConcurrentAdds: 200 concurrent POSTs of one sku by one session
// over real HTTP end with exactly the sku's quantity in the cart; the
// rest are 422s, never a 500 or an extra unit.
func TestCartConcurrentAdds(t *testing.T) {
	t.Parallel()
	const quantity, posts = 37, 200
	// The 200 adds queue on one row's lock: on a loaded machine the last
	// waits longer than the default --db-timeout, whose 503 is right for a
	// shopper but not what this test is about (atomicity).
	base, _ := cartAPI(t, map[int32]int32{5: quantity}, func(c *Config) { c.DBTimeout = time.Minute })
	tr := &http.Transport{MaxIdleConnsPerHost: posts}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	statuses := make([]int, posts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range posts {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", base+"/cart", strings.NewReader(`{"sku_id":5}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "one session")
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[201] != quantity || count[422] != posts-quantity {
		t.Fatalf("statuses %v, want %d × 201 and %d × 422", count, quantity, posts-quantity)
	}
	if got := getCart(t, newClient(t), base, "Authorization", "one session"); !slices.Equal(got, []cartItem{{5, quantity}}) {
		t.Fatalf("GET /cart: %v", got)
	}
}

// TestCartInput: the three body forms, and every kind of bad input, each
// with its status, a JSON error body and no-store.
func TestCartInput(t *testing.T) {
	t.Parallel()
	base, _ := cartAPI(t, map[int32]int32{1: 100, 2: 100, 3: 1})
	c := newClient(t)
	auth := []string{"Authorization", "input"}
	for _, tc := range []struct {
		body, contentType string
		status            int
	}{
		{`{"sku_id":1}`, "application/json", 201},
		{`{"sku_id":"1"}`, "application/json", 201},
		{"sku_id=1", "application/x-www-form-urlencoded", 201},
		{" {\"sku_id\": 2}\n", "text/plain", 201},
		{`{"sku_id":"001"}`, "application/json", 201},
		{`{"sku_id":3}`, "application/json", 201},
		{`{"sku_id":3}`, "application/json", 422}, // quantity 1
		{`{"sku_id":4}`, "application/json", 422}, // no such sku
		{`{"sku_id":2147483647}`, "application/json", 422},
		{`{}`, "application/json", 400},
		{`{"sku_id":0}`, "application/json", 400},
		{`{"sku_id":-1}`, "application/json", 400},
		{`{"sku_id":1.5}`, "application/json", 400},
		{`{"sku_id":1e0}`, "application/json", 400},
		{`{"sku_id":"x"}`, "application/json", 400},
		{`{"sku_id":" 1"}`, "application/json", 400},
		{`{"sku_id":null}`, "application/json", 400},
		{`{"sku_id":true}`, "application/json", 400},
		{`{"sku_id":2147483648}`, "application/json", 400},
		{`{"sku_id":1`, "application/json", 400},
		{`{"sku_id":1}{}`, "application/json", 400},
		{`[1]`, "application/json", 400},
		{`not json`, "application/json", 400},
		{"", "application/json", 400},
		{"sku_id=", "application/x-www-form-urlencoded", 400},
		{"sku=1", "application/x-www-form-urlencoded", 400},
		{`{"sku_id":1,"pad":"` + strings.Repeat("x", 1024) + `"}`, "application/json", 413},
	} {
		resp, body := send(t, c, "POST", base+"/cart", tc.body, append([]string{"Content-Type", tc.contentType}, auth...)...)
		if resp.StatusCode != tc.status {
			t.Errorf("POST %q: %d %s, want %d", tc.body, resp.StatusCode, body, tc.status)
			continue
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("POST %q: Cache-Control %q", tc.body, resp.Header.Get("Cache-Control"))
		}
		if tc.status != 201 {
			wantError(t, resp, body, tc.status)
		}
	}
	if got, want := getCart(t, c, base, auth...), []cartItem{{1, 4}, {2, 1}, {3, 1}}; !slices.Equal(got, want) {
		t.Errorf("GET /cart: %v, want %v", got, want)
	}
	resp, body := send(t, c, "PUT", base+"/cart", `{"sku_id":1}`)
	wantError(t, resp, body, 405)
	if allow := resp.Header.Get("Allow"); allow != cartMethods {
		t.Errorf("405 Allow %q", allow)
	}

	// The counters by outcome add up to what was sent.
	_, metrics := do(t, c, "GET", base+"/metrics")
	for _, line := range []string{
		`elier_cart_requests_total{outcome="added"} 6`,
		`elier_cart_requests_total{outcome="over_stock"} 1`,
		`elier_cart_requests_total{outcome="no_sku"} 2`,
		`elier_cart_requests_total{outcome="bad_request"} 18`, // 17 bodies and the PUT
		`elier_cart_requests_total{outcome="too_large"} 1`,
		`elier_cart_requests_total{outcome="listed"} 1`,
		`elier_cart_commits_total 9`, // the 6 adds and the 3 refused, one by one
		`elier_cart_committed_adds_total 9`,
		`elier_cart_read_batches_total 1`, // the one GET /cart
		`elier_cart_reads_total 1`,
		`elier_http_requests_total{route="cart",status="201"} 6`,
		`elier_http_requests_total{route="cart",status="422"} 3`,
	} {
		if !strings.Contains(string(metrics), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestCartCookieAttributes: Secure only over TLS as a trusted proxy says;
// a cookie the API did not issue is not a session.
func TestCartCookieAttributes(t *testing.T) {
	t.Parallel()
	base, url := cartAPI(t, map[int32]int32{1: 100})
	noProxies := startAPI(t, url, func(c *Config) { c.TrustedProxies = nil })
	otherProxy := startAPI(t, url, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c := newClient(t)
	post := func(base string, headers ...string) *http.Cookie {
		t.Helper()
		resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":1}`, headers...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		return sessionCookie(t, resp)
	}
	if ck := post(base); ck.Secure {
		t.Error("Secure over plain HTTP")
	}
	if ck := post(base, "X-Forwarded-Proto", "https"); !ck.Secure {
		t.Error("not Secure behind a trusted TLS proxy (127.0.0.1)")
	}
	if ck := post(base, "X-Forwarded-Proto", "https, http"); !ck.Secure {
		t.Error("not Secure when the first proxy saw TLS")
	}
	if ck := post(noProxies, "X-Forwarded-Proto", "https"); ck.Secure {
		t.Error("Secure on the word of an untrusted client (no trusted proxies)")
	}
	if ck := post(otherProxy, "X-Forwarded-Proto", "https"); ck.Secure {
		t.Error("Secure on the word of an address outside --trusted-proxies")
	}
	a, b := post(base), post(base)
	if a.Value == b.Value {
		t.Error("two new sessions got the same cookie")
	}
	// A cookie of the client's own choosing is replaced, not adopted.
	if ck := post(base, "Cookie", "elier_cart=chosen-by-the-client"); ck.Value == "chosen-by-the-client" {
		t.Error("a forged session cookie was adopted")
	}
}

// TestCartCORS: the preflight of a JSON POST with credentials passes for a
// listed origin; credentials are never allowed with "*".
func TestCartCORS(t *testing.T) {
	t.Parallel()
	const shop = "https://shop.example"
	listed, url := cartAPI(t, map[int32]int32{1: 1}, func(c *Config) { c.CORSOrigins = []string{shop} })
	anyOrigin := startAPI(t, url)
	c := newClient(t)
	preflight := func(base, origin string) http.Header {
		t.Helper()
		resp, body := send(t, c, "OPTIONS", base+"/cart", "", "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,authorization")
		if resp.StatusCode != 204 {
			t.Fatalf("preflight: %d %s", resp.StatusCode, body)
		}
		return resp.Header
	}
	h := preflight(listed, shop)
	if h.Get("Access-Control-Allow-Origin") != shop || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("listed origin's preflight: %v", h)
	}
	if h := preflight(listed, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("unlisted origin's preflight: %v", h)
	}
	h = preflight(anyOrigin, "https://evil.example")
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("* preflight: %v", h)
	}
	resp, _ := send(t, c, "GET", anyOrigin+"/cart", "", "Origin", shop)
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("credentials allowed with *: %v", resp.Header)
	}
}

// TestCartUnavailable: with the primary unreachable, read-only or not
// migrated, /cart answers 503 with Retry-After while the catalogue keeps
// serving from its own pool.
func TestCartUnavailable(t *testing.T) {
	t.Parallel()
	url := newCatalog(t)
	installBuild(t, url, 1, build1(t), true)
	withStock(t, url, map[int32]int32{1: 1})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nobody listens there now
	readOnly := url + "&default_transaction_read_only=on"
	if !strings.Contains(url, "?") {
		readOnly = url + "?default_transaction_read_only=on"
	}
	notMigrated := pgtest.NewDatabase(t)
	execSQL(t, notMigrated, "CREATE SCHEMA elier_b1")

	for name, primary := range map[string]string{
		"down":         "postgres://elier@" + deadAddr + "/elier?sslmode=disable&connect_timeout=1",
		"read-only":    readOnly,
		"not migrated": notMigrated,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := startAPI(t, url, func(c *Config) { c.PrimaryURL = primary })
			c := newClient(t)
			for _, r := range []struct{ method, body string }{{"POST", `{"sku_id":1}`}, {"GET", ""}} {
				resp, body := send(t, c, r.method, base+"/cart", r.body, "Authorization", "x")
				wantError(t, resp, body, 503)
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s /cart: headers %v", r.method, resp.Header)
				}
			}
			if resp, body := do(t, c, "GET", base+"/products/1/styles"); resp.StatusCode != 200 {
				t.Errorf("the catalogue with the cart's primary %s: %d %s", name, resp.StatusCode, body)
			}
		})
	}
}

// TestCartExpiry: an idle cart is swept by the API itself.
func TestCartExpiry(t *testing.T) {
	t.Parallel()
	base, _ := cartAPI(t, map[int32]int32{1: 5}, func(c *Config) {
		c.CartIdle = time.Second
		c.CartSweep = 100 * time.Millisecond
	})
	c := newClient(t)
	if resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":1}`, "Authorization", "idle"); resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	// Read-your-writes first: the cart is there right after the 201.
	if got := getCart(t, c, base, "Authorization", "idle"); !slices.Equal(got, []cartItem{{1, 1}}) {
		t.Fatalf("GET /cart: %v", got)
	}
	eventually(t, "the idle cart expires", func() error {
		if got := getCart(t, c, base, "Authorization", "idle"); len(got) != 0 {
			return fmt.Errorf("still %v", got)
		}
		return nil
	})
}

func FuzzParseCartBody(f *testing.F) {
	for _, s := range []string{`{"sku_id":1}`, `{"sku_id":"1"}`, "sku_id=1", `{"sku_id":1.0}`, "sku_id=1&sku_id=2", `{"SKU_ID":3}`, "%zz", "{"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sku, ok := parseCartBody(body)
		if !ok {
			return
		}
		if sku <= 0 {
			t.Fatalf("%q: sku %d accepted", body, sku)
		}
		// What parses is a sku the canonical forms name too.
		for _, canon := range []string{fmt.Sprintf(`{"sku_id":%d}`, sku), fmt.Sprintf("sku_id=%d", sku)} {
			if again, ok := parseCartBody([]byte(canon)); !ok || again != sku {
				t.Fatalf("%q: %d, but %s gives %d %v", body, sku, canon, again, ok)
			}
		}
	})
}

// TestCartMigratedLater: the API does no DDL (its cart answers 503 on a
// database without the cart's tables, and they are still missing after),
// and needs no restart once elier-etl has migrated.
func TestCartMigratedLater(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	base := startAPI(t, url)
	c := newClient(t)
	resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":1}`, "Authorization", "later")
	wantError(t, resp, body, 503)
	var exists bool
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), "SELECT to_regnamespace('elier_cart') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("the API created schema elier_cart (%v)", err)
	}
	execSQL(t, url, sqlfiles.Must("catalog.sql"))
	execSQL(t, url, sqlfiles.Must("cart.sql"))
	installBuild(t, url, 1, build1(t), true)
	withStock(t, url, map[int32]int32{1: 3})
	if resp, body := send(t, c, "POST", base+"/cart", `{"sku_id":1}`, "Authorization", "later"); resp.StatusCode != 201 {
		t.Fatalf("after the migration: %d %s", resp.StatusCode, body)
	}
}
