package deploy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestNginxPassesCart runs nginx with the rendered template in front of two
// stand-in APIs that misbehave on purpose (they mark the cart cacheable):
// /cart is never cached, whatever the upstream says, while a catalogue
// document is (so the check can fail); a POST reaches the upstream with
// its Authorization header, cookie and body, and its Set-Cookie comes back.
func TestNginxPassesCart(t *testing.T) {
	nginx := nginxBinary(t)
	var cartGets atomic.Int64
	var seen atomic.Value // "authorization|cookie|body" of the last POST
	upstream := func() *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "public, max-age=60")
			switch {
			case r.URL.Path == "/cart" && r.Method == http.MethodPost:
				b, _ := io.ReadAll(r.Body)
				seen.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("Cookie") + "|" + string(b))
				w.Header().Set("Set-Cookie", "elier_cart=abc; Path=/; HttpOnly; SameSite=Lax")
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, `{"sku_id":1,"count":1}`)
			case r.URL.Path == "/cart":
				fmt.Fprintf(w, `[{"sku_id":1,"count":%d}]`, cartGets.Add(1))
			default:
				fmt.Fprint(w, `{"id":1}`)
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	api1, api2 := upstream(), upstream()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	conf, _ := renderNginx(t, load(t), dir, map[string]string{
		"API1_ADDR":    strings.TrimPrefix(api1.URL, "http://"),
		"API2_ADDR":    strings.TrimPrefix(api2.URL, "http://"),
		"NGINX_LISTEN": listen,
	})
	cmd := exec.Command(nginx, "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: the master stops its workers
		_ = cmd.Wait()
	})
	base := "http://" + listen
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("nginx did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("X-Cache")
	}

	get("/products/1")
	if _, cache := get("/products/1"); cache != "HIT" {
		t.Fatalf("a cacheable document is not cached (X-Cache %q): the check below proves nothing", cache)
	}
	for i := 1; i <= 3; i++ {
		if body, cache := get("/cart"); body != fmt.Sprintf(`[{"sku_id":1,"count":%d}]`, i) || cache == "HIT" {
			t.Fatalf("GET /cart %d: %s (X-Cache %q): answered from a cache", i, body, cache)
		}
	}
	req, _ := http.NewRequest("POST", base+"/cart", strings.NewReader(`{"sku_id":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer shopper")
	req.Header.Set("Cookie", "elier_cart=xyz")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("Set-Cookie") == "" {
		t.Fatalf("POST /cart: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if got, want := seen.Load(), `Bearer shopper|elier_cart=xyz|{"sku_id":"1"}`; got != want {
		t.Errorf("the upstream saw %q, want %q", got, want)
	}
}
