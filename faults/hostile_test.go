//go:build faults

package faults

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Scenario 6: hostile clients: slow headers, oversized headers and bodies,
// a flood of garbage requests, many idle connections. Nothing gets a 5xx,
// slow clients are cut off at the read timeout, memory stays bounded.
func hostileClients(t *testing.T, e *env) {
	db := e.createDB(t, "faults_hostile")
	e.mustLoad(t, db, e.export(t, 1))
	api := e.startAPI(t, "hostile", db, true)
	addr := strings.TrimPrefix(api.base, "http://")
	const readTimeout = 10 * time.Second // elier-api's ReadTimeout

	t.Run("slow_headers", func(t *testing.T) {
		n := 200
		if testing.Short() {
			n = 50
		}
		var wg sync.WaitGroup
		lived := make([]time.Duration, n)
		answered := make([]string, n)
		for i := range n {
			wg.Go(func() { lived[i], answered[i] = slowHeaders(t, addr) })
		}
		// Ordinary clients are served meanwhile.
		time.Sleep(time.Second)
		okDuring := 0
		for range 20 {
			if status, _ := get(api.base + "/products/1"); status == 200 {
				okDuring++
			}
			time.Sleep(100 * time.Millisecond)
		}
		wg.Wait()
		longest := slices.Max(lived)
		if longest > readTimeout+2*time.Second || okDuring != 20 {
			t.Errorf("slow clients held their connections up to %v (read timeout %v); %d/20 ordinary requests served meanwhile", longest, readTimeout, okDuring)
		}
		if a := mostCommon(answered); a != "" || slices.ContainsFunc(answered, func(s string) bool { return s != "" }) {
			t.Errorf("a timed-out connection was answered %q: it must be closed without an answer", a)
		}
		e.reportf("hostile/slow_headers", "%d connections sending a header line a second: all closed by the server, without an answer, after %s..%s (read timeout %v); ordinary requests meanwhile %d/20 ok",
			n, ms(slices.Min(lived)), ms(longest), readTimeout, okDuring)
	})

	t.Run("oversized", func(t *testing.T) {
		big := strings.Repeat("a", 16<<10)
		many := ""
		for i := range 300 {
			many += fmt.Sprintf("X-H%d: %s\r\n", i, strings.Repeat("b", 60))
		}
		body := strings.Repeat("x", 1<<20)
		var chunked strings.Builder
		for range 64 {
			fmt.Fprintf(&chunked, "%x\r\n%s\r\n", 16<<10, strings.Repeat("y", 16<<10))
		}
		chunked.WriteString("0\r\n\r\n")
		cases := []struct {
			name, req string
			want      int
		}{
			{"one 16 KiB header", "GET /products/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431},
			{"300 headers, 20 KiB", "GET /products/1 HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
			{"16 KiB URL", "GET /products/1?q=" + big + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
			{"1 MiB body, Content-Length", "POST /products HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 413},
			{"1 MiB body on a GET", "GET /products/1 HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 413},
			{"Content-Length 10^12, no body", "POST /products HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n", 413},
			{"1 MiB chunked body", "POST /products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked.String(), 413},
			{"2 KiB cart body", "POST /cart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat(" ", 2048), 413},
			{"1 MiB cart body", "POST /cart HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 413},
		}
		var got []string
		for _, c := range cases {
			status, ct, err := rawStatus(addr, c.req)
			if err != nil || status != c.want || ct != "application/json" {
				t.Errorf("%s: status %d (%s, %v), want %d with a JSON body", c.name, status, ct, err, c.want)
			}
			got = append(got, fmt.Sprintf("%s %d", c.name, status))
		}
		e.reportf("hostile/oversized", "%s", strings.Join(got, "; "))
	})

	t.Run("garbage_flood", func(t *testing.T) {
		n := 100000
		if testing.Short() {
			n = 20000
		}
		const workers = 8
		var mu sync.Mutex
		statuses := map[int]int{}
		var closed, fivexx atomic.Int64
		var bad, unanswered []string
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 42))
				var conn net.Conn
				var br *bufio.Reader
				for i := w; i < n; i += workers {
					if conn == nil {
						var err error
						if conn, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
							t.Error(err)
							return
						}
						br = bufio.NewReader(conn)
					}
					method, req := garbageRequest(rnd)
					conn.SetDeadline(time.Now().Add(10 * time.Second))
					_, err := io.WriteString(conn, req)
					var resp *http.Response
					if err == nil {
						resp, err = http.ReadResponse(br, &http.Request{Method: method})
					}
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if err != nil {
						// The server may close after a malformed request;
						// then the next request opens a new connection.
						closed.Add(1)
						mu.Lock()
						if len(unanswered) < 3 {
							unanswered = append(unanswered, fmt.Sprintf("%.60q", req))
						}
						mu.Unlock()
						conn.Close()
						conn = nil
						continue
					}
					mu.Lock()
					statuses[resp.StatusCode]++
					if resp.StatusCode >= 500 && len(bad) < 10 {
						bad = append(bad, fmt.Sprintf("%d for %.120q", resp.StatusCode, req))
					}
					mu.Unlock()
					if resp.StatusCode >= 500 {
						fivexx.Add(1)
					}
					if resp.Close {
						conn.Close()
						conn = nil
					}
				}
				if conn != nil {
					conn.Close()
				}
			})
		}
		wg.Wait()
		if fivexx.Load() > 0 {
			t.Errorf("%d 5xx answers to garbage: %s", fivexx.Load(), strings.Join(bad, "; "))
		}
		if status, _ := get(api.base + "/products/1/styles"); status != 200 {
			t.Errorf("after the flood: /products/1/styles %d", status)
		}
		m := get500s(t, api)
		if m > 0 {
			t.Errorf("/metrics counts %v 500s", m)
		}
		var keys []int
		for k := range statuses {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d=%d", k, statuses[k]))
		}
		e.reportf("hostile/garbage", "%d garbage requests (paths, query strings, methods, raw bytes): %s, closed without an answer %d %v, 5xx %d; /metrics 500s %v",
			n, strings.Join(parts, " "), closed.Load(), unanswered, fivexx.Load(), m)
	})

	t.Run("idle_connections", func(t *testing.T) {
		n := 5000
		if testing.Short() {
			n = 1000
		}
		before := api.rss(t)
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range n {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
			if i%2 == 0 {
				// Half make one request and stay open (keep-alive); half
				// never send a byte.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, "GET /products/1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		opened := time.Now()
		time.Sleep(2 * time.Second)
		held := api.rss(t)
		start := time.Now()
		status, _ := get(api.base + "/products/2/styles")
		took := time.Since(start)
		if status != 200 {
			t.Errorf("with %d idle connections: status %d", n, status)
		}
		// Past the read timeout, a connection that never sent a request is
		// closed with nothing written (a 408 there would be taken for the
		// answer to a request sent at that moment); a kept-alive one stays
		// open until the idle timeout (2 min).
		time.Sleep(time.Until(opened.Add(readTimeout + time.Second)))
		var closedSilently, answered, keptOpen, sampled int
		for i, c := range conns {
			if i%2 == 0 && i >= 200 {
				continue // a sample of the kept-alive ones is enough
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			nr, err := c.Read(make([]byte, 512))
			var ne net.Error
			switch {
			case i%2 == 0:
				sampled++
				if nr == 0 && errors.As(err, &ne) && ne.Timeout() {
					keptOpen++
				}
			case nr > 0:
				answered++
			case err == io.EOF:
				closedSilently++
			}
		}
		if answered > 0 || closedSilently != n/2 || keptOpen != sampled {
			t.Errorf("after the read timeout: of %d silent connections %d closed without an answer, %d answered; %d of %d kept-alive ones open",
				n/2, closedSilently, answered, keptOpen, sampled)
		}
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		time.Sleep(3 * time.Second)
		after := api.rss(t)
		per := (held - before) / int64(n)
		if per > 64<<10 {
			t.Errorf("%d idle connections cost %s of RSS (%d KiB each), want at most 64 KiB each", n, mib(held-before), per>>10)
		}
		e.reportf("hostile/idle_conns", "%d idle connections (half after one request): RSS %s -> %s (+%s, %.1f KiB each) -> %s after closing; a request meanwhile %d in %s; after the read timeout %d/%d silent ones closed without an answer, %d/%d kept-alive ones (sampled) still open",
			n, mib(before), mib(held), mib(held-before), float64(held-before)/float64(n)/1024, mib(after), status, ms(took), closedSilently, n/2, keptOpen, sampled)
	})
	api.stop(t)
}

// slowHeaders sends a request head one header line a second and returns how
// long the server kept the connection open, and what it answered.
func slowHeaders(t *testing.T, addr string) (time.Duration, string) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer c.Close()
	start := time.Now()
	gone := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(c)
		first, _, _ := strings.Cut(string(b), "\r\n")
		gone <- first
	}()
	if _, err := io.WriteString(c, "GET /products/1 HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Error(err)
		return 0, ""
	}
	for i := 0; i < 60; i++ {
		select {
		case answer := <-gone:
			return time.Since(start), answer
		case <-time.After(time.Second):
		}
		if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", i, i); err != nil {
			break
		}
	}
	select {
	case answer := <-gone:
		return time.Since(start), answer
	case <-time.After(5 * time.Second):
		return time.Since(start), "(still open)"
	}
}

// rawStatus sends req on a new connection and reads the status and
// Content-Type of the answer.
func rawStatus(addr, req string) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	// Write while reading: the server may answer (and close) before it
	// has read everything.
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type"), nil
}

// garbageRequest makes one request a fuzzer or a scanner would send: odd
// methods, paths and query strings, and now and then raw bytes.
func garbageRequest(rnd *rand.Rand) (method, req string) {
	methods := []string{"GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "BREW", "get"}
	segments := []string{"products", "products", "styles", "related", "", ".", "..", "%2e%2e", "%00", "%ff%fe", "-1", "0",
		"1", "17", "2147483647", "2147483648", "99999999999999999999", "1e3", "0x10", "+5", "%20", "é", "%C3%A9", "🙂",
		"1;DROP TABLE x", "'1'", "%2F", "//", "metrics", "readyz", "healthz", "openapi.json", "admin", ".env", "cart", "cart",
		"cart", "CART", "cart%00",
		strings.Repeat("9", 300), strings.Repeat("a/", 200)}
	keys := []string{"page", "count", "page", "count", "q", "", "page[]", "count%00", "Page"}
	vals := []string{"1", "0", "-1", "1000", "1001", "abc", "", "2147483648", "1.5", "%zz", "%", "9999999999", "1e2", "0x1", " 1", "%00"}
	method = methods[rnd.IntN(len(methods))]
	if rnd.IntN(50) == 0 {
		b := make([]byte, 1+rnd.IntN(200))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return "GET", string(b) + "\r\n\r\n"
	}
	var path strings.Builder
	for range 1 + rnd.IntN(4) {
		path.WriteByte('/')
		path.WriteString(segments[rnd.IntN(len(segments))])
	}
	if rnd.IntN(2) == 0 {
		path.WriteByte('?')
		for i := range rnd.IntN(5) {
			if i > 0 {
				path.WriteString([]string{"&", "&&", ";", "&"}[rnd.IntN(4)])
			}
			path.WriteString(keys[rnd.IntN(len(keys))])
			if rnd.IntN(6) > 0 {
				path.WriteByte('=')
				path.WriteString(vals[rnd.IntN(len(vals))])
			}
		}
	}
	proto := "HTTP/1.1"
	if rnd.IntN(10) == 0 {
		proto = "HTTP/1.0"
	}
	head := method + " " + path.String() + " " + proto + "\r\nHost: x\r\n"
	if rnd.IntN(3) == 0 {
		// A body, as a POST /cart (or a confused client) sends one; now and
		// then a session of its own.
		b := cartBodies[rnd.IntN(len(cartBodies))]
		if rnd.IntN(2) == 0 {
			head += "Authorization: garbage-" + strconv.Itoa(rnd.IntN(50)) + "\r\n"
		}
		head += "Content-Type: " + []string{"application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"}[rnd.IntN(4)] + "\r\n"
		return method, head + "Content-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n" + b
	}
	return method, head + "\r\n"
}

// cartBodies are POST /cart bodies, good and bad.
var cartBodies = []string{`{"sku_id":1}`, `{"sku_id":"2"}`, "sku_id=3", `{"sku_id":0}`, `{"sku_id":-1}`, `{"sku_id":1.5}`,
	`{"sku_id":"x"}`, `{"sku_id":99999999999}`, `{"sku_id":[1]}`, `{"sku_id":{"a":1}}`, `{"sku_id":null}`, `{`, `}`, "",
	"sku_id=%zz", "sku_id=1&sku_id=2", `{"sku_id":2147483647}`, `{"sku_id":"1e3"}`, "\x00\xff\xfe", `[{"sku_id":1}]`,
	strings.Repeat(`{"sku_id":`, 100), `{"sku_id":1,"sku_id":"y"}`, strings.Repeat("a", 1500)}

// get returns the status and body of a GET (status 0 on error).
func get(url string) (int, []byte) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// get500s sums the API's 500s in /metrics.
func get500s(t *testing.T, a *apiProc) float64 {
	t.Helper()
	status, body := get(a.base + "/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	var n float64
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "elier_http_requests_total{") && strings.Contains(line, `status="500"`) {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += f
		}
	}
	return n
}

func mostCommon(ss []string) string {
	count := map[string]int{}
	best := ""
	for _, s := range ss {
		count[s]++
		if count[s] > count[best] {
			best = s
		}
	}
	return best
}
