package build

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocarina/gocsv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/generate"
	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/pkg/readmodel"
)

const fixtureDir = "../../testdata/atelier-sample"

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := openPool(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// openPool opens a pool large enough for a load with two ranges.
func openPool(url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = Conns(2)
	ConfigurePool(cfg)
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// TestConfigurePool: a load's connections compress the WAL's full-page
// images whatever the server's default (off on a stock server), with the
// best method the server was built with.
func TestConfigurePool(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	var server, session string
	var methods []string
	if err := pool.QueryRow(context.Background(), "SELECT boot_val, current_setting('wal_compression'), enumvals FROM pg_settings WHERE name = 'wal_compression'").Scan(&server, &session, &methods); err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, m := range []string{"zstd", "lz4", "pglz"} {
		if slices.Contains(methods, m) {
			want = m
			break
		}
	}
	if session != want {
		t.Errorf("wal_compression %q in a load's session (server default %q, methods %v), want %q", session, server, methods, want)
	}
}

// productAt reads the product document (stored form) at a 1-based position
// of the live build's list order: its list item is cut from it as readers
// do (readmodel.ListItem).
const productAt = `
	SELECT d.product
	FROM elier.builds b
	JOIN elier.list_ids l ON l.build_id = b.id
	CROSS JOIN LATERAL unnest(l.ids) WITH ORDINALITY AS u(id, k)
	JOIN elier.docs d ON d.id = u.id
	WHERE b.state = 'live' AND l.chunk::bigint * 1000 + u.k = $1`

func rebuild(t *testing.T, pool *pgxpool.Pool, dir string, mod ...func(*Options)) (*Summary, error) {
	t.Helper()
	opts := Options{Dir: dir, RejectDir: t.TempDir(), MaxRejectRatio: 0.01, MaxShrink: 0.5, Ranges: 2}
	for _, m := range mod {
		m(&opts)
	}
	return Rebuild(context.Background(), pool, opts)
}

func mustRebuild(t *testing.T, pool *pgxpool.Pool, dir string, mod ...func(*Options)) *Summary {
	t.Helper()
	s, err := rebuild(t, pool, dir, mod...)
	if err != nil {
		t.Fatalf("rebuild %s: %v", dir, err)
	}
	return s
}

// doc reads one served document of the live build.
func doc(t *testing.T, pool *pgxpool.Pool, column string, id int) string {
	t.Helper()
	var b []byte
	// Not a cached statement: the column's type changes across formats.
	err := pool.QueryRow(context.Background(), "SELECT "+column+" FROM elier.docs WHERE id = $1", pgx.QueryExecModeExec, id).Scan(&b)
	if err != nil {
		t.Fatalf("reading %s of product %d: %v", column, id, err)
	}
	s := plainOf(t, pool, b)
	if !json.Valid([]byte(s)) {
		t.Fatalf("%s of product %d is not valid JSON: %s", column, id, s)
	}
	return s
}

// plainOf is the body of a stored document, decoded independently of
// pkg/stored (pgtest.Body: the standard library's gzip, S2 with the
// lineage's dictionary).
func plainOf(t *testing.T, db pgtest.Querier, b []byte) string {
	t.Helper()
	p, err := pgtest.Body(context.Background(), db, b)
	if err != nil {
		t.Fatalf("a stored document: %v", err)
	}
	return string(p)
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

func upstream(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "upstream", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

// Offsets between CSV ids and the reference API's ids (fixture README).
const productOffset, styleOffset = 17066, 90249

// dropRefFields removes what the reference API sent that is not in our
// contract, and maps its product ids back to the CSV's.
func dropRefFields(m map[string]any) map[string]any {
	delete(m, "campus")
	delete(m, "created_at")
	delete(m, "updated_at")
	if id, ok := m["id"].(json.Number); ok {
		n, _ := id.Int64()
		m["id"] = json.Number(strconv.FormatInt(n-productOffset, 10))
	}
	return m
}

func TestRebuildMatchesReferenceAPI(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	sum := mustRebuild(t, pool, fixtureDir)
	if sum.Documents != 9 {
		t.Errorf("documents = %d, want 9", sum.Documents)
	}
	// pg_prewarm is in PostgreSQL's contrib, and the test role may install
	// it: the build went live warm (its table and index pages read).
	if sum.Prewarmed < 3 {
		t.Errorf("prewarmed %d pages, want the documents' and the indexes'", sum.Prewarmed)
	}
	for _, f := range sum.Files {
		if f.Rejected != 0 || f.Repaired != 0 || f.Loaded != 9 {
			t.Errorf("%s: loaded %d repaired %d rejected %d, want 9/0/0", f.File, f.Loaded, f.Repaired, f.Rejected)
		}
	}

	t.Run("product", func(t *testing.T) {
		want := dropRefFields(upstream(t, "products-17067.json").(map[string]any))
		got := decode(t, doc(t, pool, "product", 1))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("product 1:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("list", func(t *testing.T) {
		var items []any
		for _, it := range upstream(t, "products.json").([]any) {
			items = append(items, dropRefFields(it.(map[string]any)))
		}
		for i, want := range items {
			var p []byte
			if err := pool.QueryRow(context.Background(), productAt, i+1).Scan(&p); err != nil {
				t.Fatal(err)
			}
			item, err := readmodel.ListItem(nil, []byte(plainOf(t, pool, p)))
			if err != nil {
				t.Fatalf("list item %d: %v", i+1, err)
			}
			if got := decode(t, string(item)); !reflect.DeepEqual(got, want) {
				t.Errorf("list item %d:\n got %v\nwant %v", i+1, got, want)
			}
		}
	})
	t.Run("related", func(t *testing.T) {
		var want []any
		for _, id := range upstream(t, "products-17067-related.json").([]any) {
			n, _ := id.(json.Number).Int64()
			want = append(want, json.Number(strconv.FormatInt(n-productOffset, 10)))
		}
		if got := decode(t, doc(t, pool, "related", 1)); !reflect.DeepEqual(got, any(want)) {
			t.Errorf("related: got %v, want %v", got, want)
		}
	})
	t.Run("styles", func(t *testing.T) {
		ref := upstream(t, "products-17067-styles.json").(map[string]any)
		got := decode(t, doc(t, pool, "styles", 1)).(map[string]any)
		if got["product_id"] != "1" {
			t.Errorf("product_id = %#v, want \"1\"", got["product_id"])
		}
		gs, rs := got["results"].([]any), ref["results"].([]any)
		if len(gs) != 6 {
			t.Fatalf("%d styles, want the 6 of product 1 in the sample", len(gs))
		}
		for i, r := range rs {
			r, g := r.(map[string]any), gs[i].(map[string]any)
			sid, _ := r["style_id"].(json.Number).Int64()
			if g["style_id"] != json.Number(strconv.FormatInt(sid-styleOffset, 10)) {
				t.Errorf("style %d: style_id %v, want %d", i, g["style_id"], sid-styleOffset)
			}
			for _, k := range []string{"name", "original_price", "sale_price", "default?"} {
				if !reflect.DeepEqual(g[k], r[k]) {
					t.Errorf("style %v %s = %#v, want %#v", g["style_id"], k, g[k], r[k])
				}
			}
			if i > 0 {
				continue
			}
			// Style 1 is whole in the sample: photos in file order, skus
			// by content in file order (the reference renumbered them).
			if !reflect.DeepEqual(g["photos"], r["photos"]) {
				t.Errorf("style 1 photos:\n got %v\nwant %v", g["photos"], r["photos"])
			}
			gk, rk := skuValues(t, doc(t, pool, "styles", 1), 0), skuValues(t, mustRead(t, filepath.Join(fixtureDir, "upstream", "products-17067-styles.json")), 0)
			if !reflect.DeepEqual(gk, rk) {
				t.Errorf("style 1 skus:\n got %v\nwant %v", gk, rk)
			}
		}
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// skuValues returns style i's skus in document order (JSON object order, which
// Go maps lose) as "quantity/size" strings.
func skuValues(t *testing.T, styles string, i int) []string {
	t.Helper()
	var v struct {
		Results []struct {
			Skus json.RawMessage `json:"skus"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(styles), &v); err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(v.Results[i].Skus))
	d.Token() // {
	var out []string
	for d.More() {
		d.Token() // key
		var s struct {
			Quantity *int    `json:"quantity"`
			Size     *string `json:"size"`
		}
		if err := d.Decode(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d/%s", *s.Quantity, *s.Size))
	}
	return out
}

// TestRebuildPlaceholders checks the reference API's shapes for a product
// without styles, without features, without related rows, and for styles
// without photos or skus.
func TestRebuildPlaceholders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"product.csv":  "id,name,slogan,description,category,default_price\n1,\"A\",\"s\",\"d\",\"c\",10\n11,\"B\",\"s\",\"d\",\"c\",49.5\n",
		"features.csv": "id,product_id,feature,value\n",
		"styles.csv":   "id,productId,name,sale_price,original_price,default_style\n5,1,\"Red\",0,10,false\n",
		"skus.csv":     "id,styleId,size,quantity\n",
		"photos.csv":   "id,styleId,url,thumbnail_url\n",
		"related.csv":  "id,current_product_id,related_product_id\n",
	})
	pool := newPool(t)
	mustRebuild(t, pool, dir)
	for _, c := range []struct{ col, want string }{
		{"styles", `{"product_id":"11","results":[]}`},
		{"related", `[]`},
		{"product", `{"id":11,"name":"B","slogan":"s","description":"d","category":"c","default_price":"49.50","features":[]}`},
	} {
		if got := doc(t, pool, c.col, 11); got != c.want {
			t.Errorf("%s of 11 = %s, want %s", c.col, got, c.want)
		}
	}
	want := `{"product_id":"1","results":[{"style_id":5,"name":"Red","original_price":"10.00","sale_price":null,"default?":false,` +
		`"photos":[{"thumbnail_url":null,"url":null}],"skus":{"null":{"quantity":null,"size":null}}}]}`
	if got := doc(t, pool, "styles", 1); got != want {
		t.Errorf("styles of 1 =\n%s\nwant\n%s", got, want)
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// copyDir copies the six files of src into a new temporary directory,
// applying edit to each file's text.
func copyDir(t *testing.T, src string, edit func(name, text string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tb := range loader.Tables {
		b, err := os.ReadFile(filepath.Join(src, tb.File()))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if edit != nil {
			text = edit(tb.File(), text)
		}
		if text == "\x00remove" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, tb.File()), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// liveState is what the API would see: the live build and a digest of all
// its documents.
func liveState(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT build_id, product, styles || related FROM elier.docs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Build           int64
		Product, Others []byte
	}
	docs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	// The bytes served: a packed product document is packed with its own
	// lineage's dictionary, so it is compared unpacked (pgtest.Body).
	h := md5.New()
	var build int64
	for _, d := range docs {
		p, err := pgtest.Body(ctx, pool, d.Product)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(p)
		h.Write(d.Others)
		build = max(build, d.Build)
	}
	return fmt.Sprintf("%d:%d:%x", build, len(docs), h.Sum(nil))
}

// failedVersions counts the versions (documents and stock rows) that
// failed builds left in the kept lineages: none may stay once a failed run
// ends or the next run starts, since a later build's view would show them.
func failedVersions(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	n := 0
	for _, s := range keptSchemas(t, pool) {
		for _, table := range []string{"docs", "stock"} {
			var k int
			err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+ident(s)+`.`+table+`
				WHERE since IN (SELECT id FROM elier.builds WHERE state = 'failed')`).Scan(&k)
			if err != nil {
				t.Fatal(err)
			}
			n += k
		}
	}
	return n
}

// buildSchemas lists the build schemas in the database.
func buildSchemas(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return queryColumn[string](t, pool, `SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'elier\_b%' ORDER BY 1`)
}

// keptSchemas lists the schemas that hold the live and previous builds'
// documents.
func keptSchemas(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return queryColumn[string](t, pool, `SELECT DISTINCT docs_schema FROM elier.builds
		WHERE state IN ('live', 'previous') ORDER BY 1`)
}

// queryColumn returns a one-column query's rows.
func queryColumn[T any](t *testing.T, pool *pgxpool.Pool, q string) []T {
	t.Helper()
	rows, err := pool.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBadExportLeavesLiveBuild(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	mustRebuild(t, pool, fixtureDir)
	before := liveState(t, pool)

	cases := []struct {
		name    string
		edit    func(name, text string) string
		wantErr error
		wantMsg []string
		opts    func(*Options)
	}{
		{"missing file", func(n, s string) string {
			if n == "skus.csv" {
				return "\x00remove"
			}
			return s
		}, loader.ErrMissingFile, []string{"skus.csv"}, nil},
		{"missing column", func(n, s string) string {
			if n == "styles.csv" {
				return strings.Replace(s, ",original_price", ",price", 1)
			}
			return s
		}, loader.ErrMissingColumn, []string{"styles.csv", "original_price"}, nil},
		{"empty file", func(n, s string) string {
			if n == "features.csv" {
				return ""
			}
			return s
		}, loader.ErrEmptyFile, []string{"features.csv"}, nil},
		{"too many rejects", func(n, s string) string {
			if n == "skus.csv" {
				return strings.Replace(s, "\n2,1,", "\nx,1,", 1)
			}
			return s
		}, loader.ErrTooManyRejects, []string{"skus.csv"}, nil},
		{"truncated catalogue", func(n, s string) string {
			if n == "product.csv" {
				lines := strings.SplitAfter(s, "\n")
				return strings.Join(lines[:3], "")
			}
			return s
		}, ErrShrink, []string{"documents: 2 rows against 9"}, func(o *Options) {
			// The truncated catalogue orphans children; the shrink guard
			// must catch it on its own.
			o.MaxRejectRatio = 1
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, fixtureDir, c.edit)
			opts := func(*Options) {}
			if c.opts != nil {
				opts = c.opts
			}
			_, err := rebuild(t, pool, dir, opts)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			for _, m := range c.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
			if after := liveState(t, pool); after != before {
				t.Errorf("live build changed: %s -> %s", before, after)
			}
			if s := buildSchemas(t, pool); len(s) != 1 {
				t.Errorf("build schemas after a failed load: %v, want only the live one", s)
			}
			if n := failedVersions(t, pool); n != 0 {
				t.Errorf("%d versions of the failed load left in the lineage", n)
			}
		})
	}
}

func TestConcurrentLoadIsRefused(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	// Hold the lock the way a running load does, from another session.
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(context.Background(), "SELECT pg_try_advisory_lock(7461082917532)").Scan(&got); err != nil || !got {
		t.Fatalf("taking the lock: %v %v", got, err)
	}
	if _, err := rebuild(t, pool, fixtureDir); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if _, err := Rollback(context.Background(), pool); !errors.Is(err, ErrBusy) {
		t.Fatalf("rollback err = %v, want ErrBusy", err)
	}
	if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7461082917532)"); err != nil {
		t.Fatal(err)
	}
	mustRebuild(t, pool, fixtureDir)
}

// TestSwapWaitsOutALongReader: a session that holds elier.docs for longer
// than the API's request timeout (a report, a pg_dump) neither fails the
// swap nor makes other readers queue behind the swap's lock for longer than
// one short try: a reader that gives up after 1.5 s never has to.
func TestSwapWaitsOutALongReader(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	mustRebuild(t, pool, fixtureDir)
	before := liveState(t, pool)
	ctx := context.Background()
	long, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Release()
	if _, err := long.Exec(ctx, "BEGIN; SELECT count(*) FROM elier.docs"); err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: fixtureDir, RejectDir: t.TempDir(), MaxRejectRatio: 0.01, MaxShrink: 0.5, Ranges: 2}
	done := make(chan error, 1)
	go func() {
		_, err := Rebuild(ctx, pool, opts)
		done <- err
	}()
	// Once the swap waits for the view, readers keep being answered.
	for waiting := false; !waiting; {
		if err := pool.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()
			AND query LIKE '%CREATE OR REPLACE VIEW elier.docs%' AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the rebuild ended (%v) without waiting for the reader", err)
		default:
		}
	}
	reader, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Release()
	if _, err := reader.Exec(ctx, "SET lock_timeout = '1500ms'"); err != nil {
		t.Fatal(err)
	}
	for range 40 { // about three tries of the swap
		var n int
		if err := reader.QueryRow(ctx, "SELECT count(*) FROM elier.docs WHERE id = 1").Scan(&n); err != nil {
			t.Fatalf("a reader behind the waiting swap: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := long.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the rebuild behind a long reader: %v", err)
	}
	if liveState(t, pool) == before {
		t.Error("the new build is not live")
	}
}

func TestRollbackAndIfChanged(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	first := mustRebuild(t, pool, fixtureDir)
	if _, err := Rollback(context.Background(), pool); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("rollback with one build: %v, want ErrNoPrevious", err)
	}
	if _, err := rebuild(t, pool, fixtureDir, func(o *Options) { o.IfChanged = true }); !errors.Is(err, ErrUnchanged) {
		t.Fatalf("--if-changed on the same files: %v, want ErrUnchanged", err)
	}
	changed := copyDir(t, fixtureDir, func(n, s string) string {
		return strings.Replace(s, "Camo Onesie", "Camo Onesie II", 1)
	})
	second := mustRebuild(t, pool, changed, func(o *Options) { o.IfChanged = true })
	if !strings.Contains(doc(t, pool, "product", 1), "Camo Onesie II") {
		t.Fatal("the new build is not live")
	}
	id, err := Rollback(context.Background(), pool)
	if err != nil || id != first.BuildID {
		t.Fatalf("rollback = %d, %v; want %d", id, err, first.BuildID)
	}
	if strings.Contains(doc(t, pool, "product", 1), "Camo Onesie II") {
		t.Fatal("rollback did not bring the first build back")
	}
	if id, err := Rollback(context.Background(), pool); err != nil || id != second.BuildID {
		t.Fatalf("second rollback = %d, %v; want %d", id, err, second.BuildID)
	}
	builds, err := Status(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 2 || builds[0].ID != second.BuildID || builds[0].State != "live" || builds[1].State != "previous" {
		t.Fatalf("status = %+v", builds)
	}
	if builds[0].Counts["skus"] != 9 || builds[0].Sources["skus.csv"].XXH64 == "" {
		t.Errorf("status lacks counts or checksums: %+v", builds[0])
	}
	// A third build retires the oldest: only what live and previous read
	// remains.
	mustRebuild(t, pool, fixtureDir)
	if s, want := buildSchemas(t, pool), keptSchemas(t, pool); !slices.Equal(s, want) {
		t.Errorf("schemas after three builds: %v, want %v", s, want)
	}
}

// TestSwapIsFollowedByAStandbyWait: after its swap, a load and a rollback
// each commit a transaction of their own that writes WAL, a logical message
// naming the database and the build made live, with synchronous_commit =
// remote_apply. The WAL is what makes such a commit wait for synchronous
// standbys: one that only took an xid would not (that was this code's first
// version). The wait itself needs a standby: scenario d-apply of make
// cluster-test. Read here from the WAL itself, with pg_walinspect.
func TestSwapIsFollowedByAStandbyWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	if _, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_walinspect"); err != nil {
		t.Fatal(err)
	}
	var start, db string
	if err := pool.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()::text, current_database()").Scan(&start, &db); err != nil {
		t.Fatal(err)
	}
	first := mustRebuild(t, pool, fixtureDir)
	second := mustRebuild(t, pool, fixtureDir)
	if _, err := Rollback(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// pg_walinspect reads up to the WAL flushed so far: a commit of this
	// test's own, synchronous, flushes what the loads wrote whatever they
	// did. Messages of other tests' databases are in the same WAL.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on; CREATE TEMP TABLE flushed () ON COMMIT DROP")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	descs := queryColumn[string](t, pool, `SELECT description FROM pg_get_wal_records_info_till_end_of_wal('`+start+`')
		WHERE resource_manager = 'LogicalMessage' ORDER BY start_lsn`)
	var got []int64 // the payload as pg_walinspect shows it: hex bytes, space-separated ("% X")
	for _, d := range descs {
		for _, id := range []int64{first.BuildID, second.BuildID} {
			if strings.HasPrefix(d, `transactional, prefix "elier"`) && strings.HasSuffix(d, fmt.Sprintf("% X", fmt.Sprintf("%s build %d", db, id))) {
				got = append(got, id)
			}
		}
	}
	if want := []int64{first.BuildID, second.BuildID, first.BuildID}; !slices.Equal(got, want) {
		t.Errorf("the swaps' messages name builds %v, want %v (logical messages in the WAL: %q)", got, want, descs)
	}
}

// TestDirtyCorpus loads the loader's dirty corpus end to end and checks the
// reject files against the corpus's expectations.
func TestDirtyCorpus(t *testing.T) {
	t.Parallel()
	const dir = "../loader/testdata/dirty"
	var expect struct {
		Files map[string]struct {
			Scan struct {
				Issues []struct {
					Line     int64  `json:"line"`
					Reason   string `json:"reason"`
					Repaired bool   `json:"repaired"`
				} `json:"issues"`
			} `json:"scan"`
			Checked struct {
				Rows []struct {
					ID   int64 `json:"id"`
					Line int64 `json:"line"`
				} `json:"rows"`
				Issues []struct {
					Line   int64  `json:"line"`
					Reason string `json:"reason"`
				} `json:"issues"`
			} `json:"checked"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "expect.json"))), &expect); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t)
	rejects := t.TempDir()
	sum := mustRebuild(t, pool, dir, func(o *Options) { o.MaxRejectRatio = 1; o.RejectDir = rejects })
	for _, f := range sum.Files {
		e := expect.Files[f.File]
		var wantRej, wantRep []string
		for _, is := range e.Checked.Issues {
			wantRej = append(wantRej, fmt.Sprintf("%d %s", is.Line, is.Reason))
		}
		for _, is := range e.Scan.Issues {
			if is.Repaired {
				wantRep = append(wantRep, fmt.Sprintf("%d %s", is.Line, is.Reason))
			}
		}
		gotRej, gotRep := readRejects(t, filepath.Join(rejects, f.File+".rejects.csv"), f.File)
		slices.Sort(wantRej)
		slices.Sort(gotRej)
		if !slices.Equal(gotRej, wantRej) {
			t.Errorf("%s rejects:\n got %v\nwant %v", f.File, gotRej, wantRej)
		}
		if !slices.Equal(gotRep, wantRep) {
			t.Errorf("%s repairs:\n got %v\nwant %v", f.File, gotRep, wantRep)
		}
		if f.Loaded != int64(len(e.Checked.Rows)) || f.Rejected != int64(len(wantRej)) || f.Repaired != int64(len(wantRep)) {
			t.Errorf("%s: loaded %d rejected %d repaired %d; want %d %d %d", f.File,
				f.Loaded, f.Rejected, f.Repaired, len(e.Checked.Rows), len(wantRej), len(wantRep))
		}
	}
	// Every loaded product is served.
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM elier.docs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := len(expect.Files["product.csv"].Checked.Rows); n != want {
		t.Errorf("%d documents, want %d", n, want)
	}
}

// readRejects returns a reject file's rejected and repaired lines as
// "line reason", checking each row names the file and carries raw text.
func readRejects(t *testing.T, path, file string) (rejected, repaired []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []loader.Reject
	if err := gocsv.UnmarshalFile(f, &recs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range recs {
		if r.File != file || r.Raw == "" && r.Reason != "line_too_long" {
			t.Errorf("%s: bad reject row %+v", path, r)
		}
		s := strconv.FormatInt(r.Line, 10) + " " + r.Reason
		if r.Outcome == "repaired" {
			repaired = append(repaired, s)
		} else {
			rejected = append(rejected, s)
		}
	}
	return rejected, repaired
}

// TestUnsortedExportGivesSameDocuments loads a generated export, then the
// same export with each file's parent groups in reverse order (every row
// keeps its place within its parent): the stored-order path and the sorted
// path must serve identical documents.
func TestUnsortedExportGivesSameDocuments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := generate.Write(context.Background(), dir, generate.Options{Products: 300, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	parentCol := map[string]int{"product.csv": 0, "features.csv": 1, "styles.csv": 1, "skus.csv": 1, "photos.csv": 1, "related.csv": 1}
	shuffled := copyDir(t, dir, func(name, text string) string {
		return reverseGroups(text, parentCol[name])
	})
	pool := newPool(t)
	mustRebuild(t, pool, dir, func(o *Options) { o.MaxRejectRatio = 0.05 })
	a := liveState(t, pool)
	mustRebuild(t, pool, shuffled, func(o *Options) { o.MaxRejectRatio = 0.05 })
	b := liveState(t, pool)
	if a[strings.Index(a, ":"):] != b[strings.Index(b, ":"):] {
		t.Errorf("documents differ between stored-order and sorted builds: %s vs %s", a, b)
	}
}

// reverseGroups reverses the order of runs of lines that share column col
// (the header stays first).
func reverseGroups(text string, col int) string {
	lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
	var groups [][]string
	key := ""
	for i, l := range lines[1:] {
		k := strings.SplitN(l, ",", col+2)[col]
		if i == 0 || k != key {
			groups = append(groups, nil)
			key = k
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], strings.TrimSuffix(l, "\n")+"\n")
	}
	out := lines[0]
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	for i := len(groups) - 1; i >= 0; i-- {
		out += strings.Join(groups[i], "")
	}
	return out
}

func TestMain(m *testing.M) {
	// The kill test re-executes this binary as a loader.
	if os.Getenv("ELIER_TEST_REBUILD") != "" {
		runChildLoad()
		return
	}
	// No goroutine may outlive the tests: pools closed, builders and
	// listeners stopped.
	goleak.VerifyTestMain(m)
}

func runChildLoad() {
	pool, err := openPool(os.Getenv("DATABASE_URL"))
	if err != nil {
		os.Exit(3)
	}
	_, err = Rebuild(context.Background(), pool, Options{
		Dir: os.Getenv("ELIER_TEST_REBUILD"), RejectDir: os.Getenv("ELIER_TEST_REJECTS"), MaxRejectRatio: 0.05, MaxShrink: 1, Ranges: 2,
		Full: os.Getenv("ELIER_TEST_FULL") != "",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestKilledLoad kills a loader (kill -9, another process) at several
// points of a rebuild: the live build keeps serving, whole, and the next run
// succeeds and leaves no debris.
func TestKilledLoad(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	pool, err := openPool(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dir, next := t.TempDir(), t.TempDir()
	for i, d := range []string{dir, next} {
		if _, err := generate.Write(context.Background(), d, generate.Options{Products: 20000, Seed: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	mustRebuild(t, pool, dir, func(o *Options) { o.MaxRejectRatio = 0.05 })
	before := liveState(t, pool)

	// Each point is recognised by the statement the loader is running, in
	// a full build (--full) and in an incremental one. The swap's
	// transaction is held open at its view replacement by a reader: the
	// incremental build's versions are then committed in the lineage (the
	// merge wrote them there), its ends not.
	points := []struct {
		full    bool
		pattern string
		hold    bool
	}{
		{true, "COPY %docs%", false}, {true, "%docs_pkey%", false},
		{false, "reading", false}, {false, "COPY %docs%", false},
		{false, "%CREATE OR REPLACE VIEW elier.docs%", true},
	}
	for _, p := range points {
		point := p.pattern
		name := "incremental " + point
		if p.full {
			name = "full " + point
		}
		t.Run(name, func(t *testing.T) {
			if p.hold {
				long, err := pool.Begin(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer long.Rollback(context.Background())
				if _, err := long.Exec(context.Background(), "LOCK TABLE elier.docs IN ACCESS SHARE MODE"); err != nil {
					t.Fatal(err)
				}
			}
			rejects := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "ELIER_TEST_REBUILD="+next, "DATABASE_URL="+url, "ELIER_TEST_REJECTS="+rejects)
			if p.full {
				cmd.Env = append(cmd.Env, "ELIER_TEST_FULL=1")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killed := false
			for !killed {
				var n int
				if point == "reading" {
					// The files are being read (and the documents merged,
					// client-side) once the reject files exist.
					if _, err := os.Stat(filepath.Join(rejects, "photos.csv.rejects.csv")); err == nil {
						n = 1
					}
				} else {
					err := pool.QueryRow(context.Background(),
						`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
						 AND query ILIKE $1 AND pid <> pg_backend_pid()`, point).Scan(&n)
					if err != nil {
						t.Fatal(err)
					}
				}
				select {
				case err := <-done:
					t.Fatalf("the load ended (%v) before reaching %s", err, point)
				default:
				}
				if n > 0 {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					<-done
					killed = true
				}
			}
			if after := liveState(t, pool); after != before {
				t.Fatalf("live build changed by a killed load: %s -> %s", before, after)
			}
		})
	}
	// The next run clears the debris by itself and succeeds: it serves
	// what a full build of the same export in another database serves,
	// none of the killed runs' versions.
	mustRebuild(t, pool, next, func(o *Options) { o.MaxRejectRatio = 0.05 })
	after := liveState(t, pool)
	if after == before {
		t.Error("the rerun did not swap in the new build")
	}
	if n := failedVersions(t, pool); n != 0 {
		t.Errorf("%d versions of killed loads left in the lineage", n)
	}
	other, err := openPool(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustRebuild(t, other, next, func(o *Options) { o.MaxRejectRatio = 0.05 })
	_, got, _ := strings.Cut(after, ":")
	_, want, _ := strings.Cut(liveState(t, other), ":")
	if got != want {
		t.Errorf("after the killed loads, the rerun serves %s; a full build of the same export %s", got, want)
	}
	if s, want := buildSchemas(t, pool), keptSchemas(t, pool); !slices.Equal(s, want) {
		t.Errorf("schemas after the rerun: %v, want only the live and previous builds' %v", s, want)
	}
	var stale int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM elier.builds WHERE state = 'building'").Scan(&stale); err != nil || stale != 0 {
		t.Errorf("builds still marked building: %d (%v)", stale, err)
	}
}
