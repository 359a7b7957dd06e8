package api

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/build"
)

// The reference API's real responses for the first rows of the real export
// (testdata/atelier-sample, see its README), compared with ours after the
// real loader has loaded the same rows: the whole path, CSV line to HTTP.

const sampleDir = "../../testdata/atelier-sample"

// Reference ids are CSV ids plus these offsets.
const refProduct, refStyle = 17066, 90249

func loadSample(t *testing.T) (base string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	loadExport(t, url, sampleDir, false)
	return startAPI(t, url)
}

// loadExport runs the real loader (pkg/build) on dir into url's database.
func loadExport(t *testing.T, url, dir string, full bool) *build.Summary {
	t.Helper()
	return loadExportWith(t, url, dir, full, 0.05)
}

// loadExportWith is loadExport with a reject ratio.
func loadExportWith(t *testing.T, url, dir string, full bool, maxRejectRatio float64) *build.Summary {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = build.Conns(2)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sum, err := build.Rebuild(context.Background(), pool, build.Options{
		Dir: dir, RejectDir: t.TempDir(), MaxRejectRatio: maxRejectRatio, MaxShrink: 1, Ranges: 2, Full: full,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func jsonOf(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func reference(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, "upstream", name))
	if err != nil {
		t.Fatal(err)
	}
	return jsonOf(t, b)
}

func shift(v any, by int64) json.Number {
	n, _ := v.(json.Number).Int64()
	return json.Number(strconv.FormatInt(n-by, 10))
}

// ours maps a reference product object to our contract: no campus or
// timestamps, CSV ids.
func ours(m map[string]any) map[string]any {
	delete(m, "campus")
	delete(m, "created_at")
	delete(m, "updated_at")
	m["id"] = shift(m["id"], refProduct)
	return m
}

func TestGoldenReferenceResponses(t *testing.T) {
	t.Parallel()
	base := loadSample(t)
	c := newClient(t)

	// Each answer compared here is first fetched as every kind of client
	// (getEveryCoding): every coding decodes to the same bytes.
	get := func(path string) any {
		t.Helper()
		resp, body := do(t, c, "GET", base+path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if _, plain := getEveryCoding(t, c, base+path); !bytes.Equal(plain, body) {
			t.Fatalf("GET %s: two answers differ", path)
		}
		return jsonOf(t, body)
	}

	t.Run("list", func(t *testing.T) {
		var want []any
		for _, p := range reference(t, "products.json").([]any) {
			want = append(want, ours(p.(map[string]any)))
		}
		for _, path := range []string{"/products", "/products?page=1&count=5", "/products/?count=5"} {
			if got := get(path); !reflect.DeepEqual(got, any(want)) {
				t.Errorf("GET %s:\n got %v\nwant %v", path, got, want)
			}
		}
		// Positions, not ids: page 2 of 4 is products 5..8.
		got := get("/products?page=2&count=4").([]any)
		if len(got) != 4 || got[0].(map[string]any)["id"] != json.Number("5") || got[3].(map[string]any)["id"] != json.Number("8") {
			t.Errorf("page 2 of 4: %v", got)
		}
		if got := get("/products?page=4&count=5"); !reflect.DeepEqual(got, any([]any{})) {
			t.Errorf("page past the end: %v", got)
		}
	})
	t.Run("product", func(t *testing.T) {
		want := ours(reference(t, "products-17067.json").(map[string]any))
		for _, path := range []string{"/products/1", "/products/1/"} {
			if got := get(path); !reflect.DeepEqual(got, any(want)) {
				t.Errorf("GET %s:\n got %v\nwant %v", path, got, want)
			}
		}
	})
	t.Run("related", func(t *testing.T) {
		var want []any
		for _, id := range reference(t, "products-17067-related.json").([]any) {
			want = append(want, shift(id, refProduct))
		}
		if got := get("/products/1/related"); !reflect.DeepEqual(got, any(want)) {
			t.Errorf("related: %v, want %v", got, want)
		}
	})
	t.Run("styles", func(t *testing.T) {
		ref := reference(t, "products-17067-styles.json").(map[string]any)
		got := get("/products/1/styles").(map[string]any)
		if got["product_id"] != "1" {
			t.Errorf("product_id %#v, want the string \"1\"", got["product_id"])
		}
		gs, rs := got["results"].([]any), ref["results"].([]any)
		if len(gs) != len(rs) {
			t.Fatalf("%d styles, want %d", len(gs), len(rs))
		}
		for i := range rs {
			g, r := gs[i].(map[string]any), rs[i].(map[string]any)
			if g["style_id"] != shift(r["style_id"], refStyle) {
				t.Errorf("style %d: id %v, want %v", i, g["style_id"], shift(r["style_id"], refStyle))
			}
			for _, k := range []string{"name", "original_price", "sale_price", "default?"} {
				if !reflect.DeepEqual(g[k], r[k]) {
					t.Errorf("style %v: %s = %#v, want %#v", g["style_id"], k, g[k], r[k])
				}
			}
		}
		// Style 1 is whole in the sample: photos by URL in file order,
		// skus by content in file order (the reference renumbered them).
		g, r := gs[0].(map[string]any), rs[0].(map[string]any)
		if !reflect.DeepEqual(g["photos"], r["photos"]) {
			t.Errorf("style 1 photos:\n got %v\nwant %v", g["photos"], r["photos"])
		}
		gk, rk := g["skus"].(map[string]any), r["skus"].(map[string]any)
		if len(gk) != 6 || len(rk) != 6 {
			t.Fatalf("style 1 skus: %d and %d, want 6", len(gk), len(rk))
		}
		for i := 1; i <= 6; i++ {
			ours, ref := gk[strconv.Itoa(i)], rk[strconv.Itoa(522039+i)]
			if !reflect.DeepEqual(ours, ref) {
				t.Errorf("sku %d: %v, want %v", i, ours, ref)
			}
		}
		// Style 2's skus: file order 8 before 7 kept as the object's order.
		_, body := do(t, c, "GET", base+"/products/1/styles")
		s := string(body)
		if i8, i7 := strings.Index(s, `"8":{`), strings.Index(s, `"7":{`); i8 < 0 || i7 < 0 || i8 > i7 {
			t.Errorf("skus of style 2 not in file order (8 before 7): %s", s)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for path, status := range map[string]int{
			"/products/10": 404, "/products/10/styles": 404, "/products/0": 400,
			"/products/abc/related": 400, "/products?count=1001": 400, "/products?page=0": 400,
			"/nope": 404, "/products/2147483648": 400,
		} {
			resp, body := do(t, c, "GET", base+path)
			wantError(t, resp, body, status)
		}
	})
}
