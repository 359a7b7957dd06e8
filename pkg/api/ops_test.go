package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/api"
	"github.com/elier/catalogue/internal/pgtest"
)

// parseMetrics reads the Prometheus text format strictly enough to catch
// what a scraper would reject: every sample belongs to a family declared
// by # TYPE, names and labels are well formed, values are numbers,
// histogram buckets are cumulative and end in +Inf equal to _count.
func parseMetrics(t *testing.T, text []byte) map[string]float64 {
	t.Helper()
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (\S+)$`)
	types := map[string]string{}
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			continue
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || !slices.Contains([]string{"counter", "gauge", "histogram"}, f[3]) {
				t.Fatalf("bad TYPE line %q", line)
			}
			if _, dup := types[f[2]]; dup {
				t.Fatalf("family %s declared twice", f[2])
			}
			types[f[2]] = f[3]
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			t.Fatalf("unexpected line %q", line)
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(m[5], 64)
		if err != nil && m[5] != "+Inf" {
			t.Fatalf("bad value in %q", line)
		}
		family := m[1]
		if typ, ok := types[family]; !ok || typ == "histogram" {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
			if types[base] != "histogram" {
				t.Fatalf("sample %q of no declared family", line)
			}
		}
		if _, dup := samples[m[1]+m[2]]; dup {
			t.Fatalf("sample %s twice", m[1]+m[2])
		}
		samples[m[1]+m[2]] = v
	}
	// Histograms: cumulative buckets, +Inf = count.
	for name, v := range samples {
		if !strings.Contains(name, `_bucket{`) || !strings.Contains(name, `le="+Inf"`) {
			continue
		}
		count := strings.Replace(strings.Replace(name, "_bucket{", "_count{", 1), `,le="+Inf"`, "", 1)
		if samples[count] != v {
			t.Errorf("%s = %v, but %s = %v", name, v, count, samples[count])
		}
	}
	return samples
}

// TestMetricsCatalogue: after a real load, /metrics gives the live
// catalogue's products and stored bytes as PostgreSQL counts them, and the
// cache that holds it whole.
func TestMetricsCatalogue(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	loadExport(t, url, sampleDir, false)
	base := startAPI(t, url)
	var want struct{ products, bytes int64 }
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The bytes a reader gets, a packed product document unpacked
	// independently of the build (pgtest.LiveBytes).
	var packed int64
	want.products, want.bytes, packed, err = pgtest.LiveBytes(context.Background(), conn)
	if err != nil || want.products == 0 {
		t.Fatalf("the live documents: %v, %v", want, err)
	}
	if packed == 0 {
		t.Errorf("none of %d product documents is packed", want.products)
	}
	_, body := do(t, newClient(t), "GET", base+"/metrics")
	samples := parseMetrics(t, body)
	need := float64((want.bytes + 3*want.products*entryOverhead) * 11 / 10)
	for name, v := range map[string]float64{
		"elier_catalogue_products":     float64(want.products),
		"elier_catalogue_stored_bytes": float64(want.bytes),
		"elier_cache_needed_bytes":     need,
	} {
		if got, ok := samples[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	base, _, _ := seeded(t)
	c := newClient(t)
	for range 3 {
		do(t, c, "GET", base+"/products/1/styles")
	}
	do(t, c, "GET", base+"/products/77")
	do(t, c, "GET", base+"/products/x")
	do(t, c, "DELETE", base+"/products")
	runtime.GC() // go_gc_heap_live_bytes is as of the last GC
	resp, body := do(t, c, "GET", base+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples := parseMetrics(t, body)
	for name, want := range map[string]float64{
		`elier_http_requests_total{route="styles",status="200"}`:               3,
		`elier_http_requests_total{route="product",status="404"}`:              1,
		`elier_http_requests_total{route="product",status="400"}`:              1,
		`elier_http_requests_total{route="products",status="405"}`:             1,
		`elier_http_request_duration_seconds_count{route="styles"}`:            3,
		`elier_http_request_duration_seconds_bucket{route="styles",le="+Inf"}`: 3,
		`elier_cache_hits_total`:                                               2,
		`elier_cache_misses_total`:                                             2,
		`elier_cache_entries`:                                                  2,
		`elier_live_build_id`:                                                  1,
		`elier_db_up`:                                                          1,
		`elier_db_pool_max_conns`:                                              float64(DefaultConfig().DBMaxConns),
		`elier_cache_capacity_bytes`:                                           float64(DefaultConfig().CacheMB << 20),
		`elier_cache_hit_ratio`:                                                0.5,
	} {
		if got, ok := samples[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if samples["elier_cache_bytes"] <= 0 {
		t.Errorf("elier_cache_bytes = %v", samples["elier_cache_bytes"])
	}
	if samples["go_goroutines"] < 1 || samples["go_gc_heap_live_bytes"] <= 0 {
		t.Errorf("go_goroutines = %v, go_gc_heap_live_bytes = %v", samples["go_goroutines"], samples["go_gc_heap_live_bytes"])
	}
}

// TestPanic: a panicking handler is a logged 500 in JSON, and the server
// goes on serving.
func TestPanic(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&logged, nil)), metrics: newMetrics(), cors: newCORS([]string{"*"})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.router = func(ctx *fasthttp.RequestCtx) {
		ctx.SetUserValue(routeKey, routeProduct)
		ctx.Response.Header.Set("X-Partial", "yes")
		if string(ctx.Path()) == "/boom" {
			panic("boom")
		}
		ctx.SetBodyString("fine")
	}
	srv := &fasthttp.Server{Handler: s.handle}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()
	c := newClient(t)
	base := "http://" + ln.Addr().String()
	resp, body := do(t, c, "GET", base+"/boom")
	wantError(t, resp, body, 500)
	if string(body) != `{"error":"internal error"}` || resp.Header.Get("X-Partial") != "" {
		t.Errorf("panic: %s %v", body, resp.Header)
	}
	if resp, body := do(t, c, "GET", base+"/fine"); resp.StatusCode != 200 || string(body) != "fine" {
		t.Errorf("after the panic: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logged.String(), `"panic":"boom"`) {
		t.Errorf("panic not logged: %s", logged.String())
	}
	if n := s.metrics.requestCount(routeProduct, 500); n != 1 {
		t.Errorf("500s counted: %d", n)
	}
}

// TestOpenAPI checks the description against the server: every path in it
// is routed, every route is in it, and real responses match its schemas
// (for the subset of JSON Schema the description uses).
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	base, url, _ := seeded(t)
	withStock(t, url, map[int32]int32{1: 5})
	c := newClient(t)
	resp, body := do(t, c, "GET", base+"/openapi.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != openapi.JSON() {
		t.Fatalf("/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var spec map[string]any
	if err := json.Unmarshal(body, &spec); err != nil {
		t.Fatal(err)
	}
	if v, _ := spec["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi %q", v)
	}
	paths := spec["paths"].(map[string]any)

	// Every path in the description is routed, and every route described.
	routed := map[string]bool{}
	seen := map[route]bool{}
	for _, rs := range (&server{}).routeTable() {
		routed[rs.path] = true
		seen[rs.route] = true
		if paths[rs.path] == nil {
			t.Errorf("%s is routed but not described", rs.path)
		}
	}
	for p := range paths {
		if !routed[p] {
			t.Errorf("%s is described but not routed", p)
		}
	}
	for rt := routeUnknown + 1; rt < routeInvalid; rt++ {
		if !seen[rt] {
			t.Errorf("route %s is not in the route table", rt)
		}
	}

	// Real responses against the schemas of their status.
	for _, tc := range []struct {
		method, path, spec string
		status             int
		body               string // sent with Authorization, for /cart
	}{
		{"GET", "/products", "/products", 200, ""},
		{"GET", "/products?page=2&count=3", "/products", 200, ""},
		{"GET", "/products?count=1000", "/products", 200, ""},
		{"GET", "/products?page=100", "/products", 200, ""},
		{"GET", "/products?count=0", "/products", 400, ""},
		{"POST", "/products", "/products", 405, ""},
		{"GET", "/products/1", "/products/{product_id}", 200, ""},
		{"GET", "/products/2", "/products/{product_id}", 200, ""},
		{"GET", "/products/9", "/products/{product_id}", 200, ""},
		{"GET", "/products/10", "/products/{product_id}", 404, ""},
		{"GET", "/products/x", "/products/{product_id}", 400, ""},
		{"GET", "/products/1/styles", "/products/{product_id}/styles", 200, ""},
		{"GET", "/products/2/styles", "/products/{product_id}/styles", 200, ""},
		{"GET", "/products/5/styles", "/products/{product_id}/styles", 200, ""},
		{"GET", "/products/10/styles", "/products/{product_id}/styles", 404, ""},
		{"GET", "/products/1/related", "/products/{product_id}/related", 200, ""},
		{"GET", "/products/9/related", "/products/{product_id}/related", 200, ""},
		{"GET", "/products/0/related", "/products/{product_id}/related", 400, ""},
		{"GET", "/healthz", "/healthz", 200, ""},
		{"GET", "/readyz", "/readyz", 200, ""},
		{"GET", "/openapi.json", "/openapi.json", 200, ""},
		{"POST", "/cart", "/cart", 201, `{"sku_id":1}`},
		{"POST", "/cart", "/cart", 201, `sku_id=1`},
		{"POST", "/cart", "/cart", 400, `{"sku_id":"x"}`},
		{"POST", "/cart", "/cart", 413, `{"sku_id":1,"x":"` + strings.Repeat(" ", 1100) + `"}`},
		{"POST", "/cart", "/cart", 422, `{"sku_id":999}`},
		{"GET", "/cart", "/cart", 200, ""},
		{"DELETE", "/cart", "/cart", 405, ""},
	} {
		resp, body := send(t, c, tc.method, base+tc.path, tc.body, "Authorization", "openapi")
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			continue
		}
		ops, _ := paths[tc.spec].(map[string]any)
		op, ok := ops[strings.ToLower(tc.method)].(map[string]any)
		if !ok {
			op, _ = ops["get"].(map[string]any) // other methods' 405s are described with GET
		}
		r, ok := op["responses"].(map[string]any)[strconv.Itoa(tc.status)]
		if !ok {
			t.Errorf("%s %s: status %d is not described", tc.method, tc.path, tc.status)
			continue
		}
		r = resolve(t, spec, r)
		schema, ok := r.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"]
		if !ok {
			t.Errorf("%s %s: no application/json schema for %d", tc.method, tc.path, tc.status)
			continue
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		if err := validate(t, spec, schema, v, "$"); err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
		}
	}
	// The checker itself rejects what it should.
	for _, bad := range []struct{ schema, value string }{
		{`{"$ref":"#/components/schemas/Styles"}`, `{"product_id":1,"results":[]}`},
		{`{"$ref":"#/components/schemas/Styles"}`, `{"product_id":"1"}`},
		{`{"$ref":"#/components/schemas/Sku"}`, `{"quantity":1.5,"size":null}`},
		{`{"$ref":"#/components/schemas/Style"}`, `{"style_id":1,"name":"a","original_price":"1.00","sale_price":null,"default?":1,"photos":[],"skus":{}}`},
		{`{"type":"array","items":{"type":"integer"}}`, `[1,"2"]`},
	} {
		var schema, v any
		_ = json.Unmarshal([]byte(bad.schema), &schema)
		dec := json.NewDecoder(strings.NewReader(bad.value))
		dec.UseNumber()
		_ = dec.Decode(&v)
		if validate(t, spec, schema, v, "$") == nil {
			t.Errorf("the checker accepts %s as %s", bad.value, bad.schema)
		}
	}
}

// resolve follows a local $ref.
func resolve(t *testing.T, spec map[string]any, v any) any {
	for {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		var cur any = spec
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		if cur == nil {
			t.Fatalf("dangling $ref %s", ref)
		}
		v = cur
	}
}

// validate checks v against schema: $ref, type (one or a list, integer
// meaning a whole number), properties, required, items,
// additionalProperties, minimum and maximum.
func validate(t *testing.T, spec map[string]any, schema, v any, at string) error {
	s := resolve(t, spec, schema).(map[string]any)
	if typ, ok := s["type"]; ok {
		var types []string
		switch tt := typ.(type) {
		case string:
			types = []string{tt}
		case []any:
			for _, x := range tt {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(typ string) bool { return isType(v, typ) }) {
			return fmt.Errorf("%s: %v is not of type %v", at, v, types)
		}
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if lo, ok := s["minimum"].(float64); ok && f < lo {
			return fmt.Errorf("%s: %v < %v", at, f, lo)
		}
		if hi, ok := s["maximum"].(float64); ok && f > hi {
			return fmt.Errorf("%s: %v > %v", at, f, hi)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range asSlice(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: %q is required", at, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range x {
			var sub any
			if ps, ok := props[k]; ok {
				sub = ps
			} else if ap, ok := s["additionalProperties"]; ok {
				if b, isBool := ap.(bool); isBool {
					if !b {
						return fmt.Errorf("%s: %q is not allowed", at, k)
					}
					continue
				}
				sub = ap
			} else {
				continue
			}
			if err := validate(t, spec, sub, val, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, val := range x {
				if err := validate(t, spec, items, val, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func isType(v any, typ string) bool {
	switch typ {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f) && !strings.ContainsAny(n.String(), ".eE")
	}
	return false
}

// TestMetricsStaleness: the live build's age and the loader's last success
// and failure, as recorded in the catalogue, are Unix-time gauges; an
// outcome never recorded has no sample at all.
func TestMetricsStaleness(t *testing.T) {
	t.Parallel()
	base, url, _ := seeded(t)
	c := newClient(t)
	_, body := do(t, c, "GET", base+"/metrics")
	samples := parseMetrics(t, body)
	for _, name := range []string{"elier_live_build_export_timestamp_seconds", "elier_load_last_success_timestamp_seconds", "elier_load_last_failure_timestamp_seconds"} {
		if v, ok := samples[name]; ok {
			t.Errorf("%s = %v before any attempt was recorded", name, v)
		}
	}

	export := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	success := export.Add(90 * time.Minute)
	unchanged := success.Add(time.Hour)
	failure := unchanged.Add(time.Hour)
	execSQL(t, url, `INSERT INTO elier.load_attempts (started_at, finished_at, outcome, build_id, export_taken_at, reason) VALUES
		($1, $1, 'success', 1, $2, ''), ($3, $3, 'unchanged', NULL, NULL, ''), ($4, $4, 'failed', 2, NULL, 'x'),
		($4, $4, 'busy', NULL, NULL, '')`, success, export, unchanged, failure)
	built := export.Add(time.Hour)
	execSQL(t, url, "UPDATE elier.builds SET finished_at = $1 WHERE id = 1", built)

	_, body = do(t, c, "GET", base+"/metrics")
	samples = parseMetrics(t, body)
	for name, want := range map[string]time.Time{
		"elier_live_build_built_timestamp_seconds":  built,
		"elier_live_build_export_timestamp_seconds": export,
		"elier_load_last_success_timestamp_seconds": unchanged, // the job worked, nothing new
		"elier_load_last_failure_timestamp_seconds": failure,
	} {
		got, ok := samples[name]
		if !ok || math.Abs(got-float64(want.UnixMicro())/1e6) > 1e-3 {
			t.Errorf("%s = %v (present %v), want %v (%v)", name, got, ok, float64(want.UnixMicro())/1e6, want)
		}
	}
}
