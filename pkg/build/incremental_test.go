package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/generate"
	"github.com/elier/catalogue/pkg/readmodel"
)

// catalogue is what a build serves: each product's list item and three
// bodies (decoded with the standard library's gzip, not pkg/stored's
// decoder), their stored forms, and the list order.
type catalogue struct {
	docs   map[int32][4]string
	stored map[int32][3]string
	order  []int32
}

func snapshot(t *testing.T, pool *pgxpool.Pool) catalogue {
	t.Helper()
	ctx := context.Background()
	c := catalogue{docs: map[int32][4]string{}, stored: map[int32][3]string{}}
	rows, err := pool.Query(ctx, "SELECT id, product, styles, related FROM elier.docs", pgx.QueryExecModeExec)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int32
		var raw [3][]byte
		if err := rows.Scan(&id, &raw[0], &raw[1], &raw[2]); err != nil {
			t.Fatal(err)
		}
		if _, dup := c.docs[id]; dup {
			t.Fatalf("product %d has two versions in the live build", id)
		}
		var d [4]string
		var st [3]string
		for i, b := range raw {
			st[i], d[i+1] = string(b), plainOf(t, pool, b)
		}
		// The product document is packed with its lineage's dictionary
		// (format 6), which differs from build to build: what is sent is
		// the document.
		st[0] = d[1]
		// The list item as readers serve it, cut from the product document.
		item, err := readmodel.ListItem(nil, []byte(d[1]))
		if err != nil {
			t.Fatalf("product %d: %v", id, err)
		}
		d[0] = string(item)
		c.docs[id], c.stored[id] = d, st
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	err = pool.QueryRow(ctx, `SELECT coalesce(array_agg(u.id ORDER BY l.chunk, u.k), '{}')
		FROM elier.builds b JOIN elier.list_ids l ON l.build_id = b.id
		CROSS JOIN LATERAL unnest(l.ids) WITH ORDINALITY AS u(id, k)
		WHERE b.state = 'live'`).Scan(&c.order)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameCatalogue fails t when got and want serve different bytes anywhere.
func sameCatalogue(t *testing.T, what string, got, want catalogue) {
	t.Helper()
	if !slices.Equal(got.order, want.order) {
		t.Errorf("%s: list order differs (%d vs %d products)", what, len(got.order), len(want.order))
	}
	n := 0
	for id, w := range want.docs {
		if g, ok := got.docs[id]; !ok || g != w {
			if n++; n <= 3 {
				t.Errorf("%s: product %d differs:\n got %.300q\nwant %.300q", what, id, g, w)
			}
		}
	}
	for id := range got.docs {
		if _, ok := want.docs[id]; !ok {
			if n++; n <= 3 {
				t.Errorf("%s: product %d should not exist", what, id)
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d products differ", what, n)
	}
	// The stored forms too (a format-3 build's plain text aside): the
	// gzip bytes clients are sent are the same however the build came.
	if !want.coded() || !got.coded() {
		return
	}
	n = 0
	for id, w := range want.stored {
		if got.stored[id] != w {
			if n++; n <= 3 {
				t.Errorf("%s: product %d's stored documents differ", what, id)
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d products' stored documents differ", what, n)
	}
}

// coded tells whether c's documents are stored coded (format 4): some
// product's styles document is gzip.
func (c catalogue) coded() bool {
	for _, st := range c.stored {
		if strings.HasPrefix(st[1], "\x1f\x8b") {
			return true
		}
	}
	return false
}

// expectedChanges is the difference between two catalogues computed from
// two full builds: what an incremental build between them must report.
func expectedChanges(from, to catalogue) (changed, added, removed []int32) {
	for id, d := range to.docs {
		old, ok := from.docs[id]
		switch {
		case !ok:
			added = append(added, id)
		case old[1] != d[1] || old[2] != d[2] || old[3] != d[3]:
			changed = append(changed, id)
		}
	}
	for id := range from.docs {
		if _, ok := to.docs[id]; !ok {
			removed = append(removed, id)
		}
	}
	slices.Sort(changed)
	slices.Sort(added)
	slices.Sort(removed)
	return
}

// fullBuild builds dir with --full in a database of its own: the reference
// an incremental build is checked against.
func fullBuild(t *testing.T, dir string) catalogue {
	t.Helper()
	pool := newPool(t)
	if s := mustRebuild(t, pool, dir, func(o *Options) { o.Full = true; o.MaxRejectRatio = 1 }); s.Kind != KindFull {
		t.Fatalf("--full ran a %s build", s.Kind)
	}
	return snapshot(t, pool)
}

// reviseExport writes a changed copy of the export in src, the way a day's
// export changes: a product renamed, stock counts and a price changed,
// photos of a style reordered, a product removed (its children become
// orphans, and so do related rows pointing at it), a product added.
func reviseExport(t *testing.T, src string, day int) string {
	t.Helper()
	return copyDir(t, src, func(name, text string) string {
		lines := strings.SplitAfter(text, "\n")
		edit := func(i int, f func(string) string) {
			if i < len(lines) && lines[i] != "" {
				lines[i] = f(lines[i])
			}
		}
		switch name {
		case "product.csv":
			edit(5, func(l string) string { return strings.Replace(l, ",", fmt.Sprintf(",Day %d ", day), 1) })
			removed := 10 + day
			lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("%d,", removed)) })
			if !strings.HasSuffix(lines[len(lines)-1], "\n") && lines[len(lines)-1] != "" {
				lines[len(lines)-1] += "\n"
			}
			lines = append(lines, fmt.Sprintf("%d,\"New %d\",\"s\",\"d\",\"Hats\",%d\n", 900000+day, day, 10+day))
		case "skus.csv":
			for _, i := range []int{3, 40 + day, 200} {
				edit(i, func(l string) string {
					f := strings.Split(strings.TrimRight(l, "\r\n"), ",")
					f[len(f)-1] = fmt.Sprint(1000 + day + i)
					return strings.Join(f, ",") + "\n"
				})
			}
		case "styles.csv":
			edit(7+day, func(l string) string { return strings.Replace(l, ",1\n", ",0\n", 1) })
		case "photos.csv":
			if len(lines) > 12 {
				lines[10], lines[11] = lines[11], lines[10]
			}
		}
		return strings.Join(lines, "")
	})
}

// TestIncrementalEqualsFull is the invariant of incremental builds: after
// loading each revision over the previous one, the served documents and
// list order are byte for byte those of a full build of that revision in
// another database, and the build reports exactly the products whose
// documents differ between the two full builds.
func TestIncrementalEqualsFull(t *testing.T) {
	t.Parallel()
	r0 := t.TempDir()
	if _, err := generate.Write(context.Background(), r0, generate.Options{Products: 3000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	r1 := reviseExport(t, r0, 1)
	r2 := reviseExport(t, r1, 2)
	// The same revision with each child file's groups in reverse order:
	// the loader then takes the sorted path.
	r2shuffled := copyDir(t, r2, func(name, text string) string {
		if name == "product.csv" {
			return text
		}
		return reverseGroups(text, 1)
	})
	full := map[string]catalogue{"r0": fullBuild(t, r0), "r1": fullBuild(t, r1), "r2": fullBuild(t, r2)}

	pool := newPool(t)
	opt := func(o *Options) { o.MaxRejectRatio = 0.05 }
	first := mustRebuild(t, pool, r0, opt)
	if first.Kind != KindFull || first.Products.Added != int64(len(full["r0"].docs)) {
		t.Fatalf("first load: %s, %+v", first.Kind, first.Products)
	}
	sameCatalogue(t, "r0", snapshot(t, pool), full["r0"])
	prev := "r0"
	for _, step := range []struct{ name, dir string }{{"r1", r1}, {"r2", r2}, {"r1", r1}, {"r2", r2shuffled}} {
		s := mustRebuild(t, pool, step.dir, opt)
		what := prev + " -> " + step.name
		if s.Kind != KindIncremental {
			t.Fatalf("%s: a %s build", what, s.Kind)
		}
		sameCatalogue(t, what, snapshot(t, pool), full[step.name])
		checkStoredBytes(t, what, pool, s)
		changed, added, removed := expectedChanges(full[prev], full[step.name])
		want := ProductCounts{Unchanged: int64(len(full[step.name].docs) - len(changed) - len(added)),
			Changed: int64(len(changed)), Added: int64(len(added)), Removed: int64(len(removed))}
		if s.Products != want {
			t.Errorf("%s: summary products %+v, want %+v", what, s.Products, want)
		}
		if s.Documents != want.Changed+want.Added {
			t.Errorf("%s: %d documents written, want %d (changed and added)", what, s.Documents, want.Changed+want.Added)
		}
		var recorded []int32
		if err := pool.QueryRow(context.Background(), "SELECT changed FROM elier.builds WHERE state = 'live'").Scan(&recorded); err != nil {
			t.Fatal(err)
		}
		all := slices.Sorted(slices.Values(slices.Concat(changed, added, removed)))
		if !slices.Equal(recorded, all) {
			t.Errorf("%s: builds.changed %v, want %v", what, recorded, all)
		}
		if len(changed) == 0 || len(added) == 0 || len(removed) == 0 {
			t.Errorf("%s: the revision should change, add and remove products: %d %d %d", what, len(changed), len(added), len(removed))
		}
		prev = step.name
	}

	// Rollback restores the previous catalogue exactly; twice returns.
	if _, err := Rollback(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	sameCatalogue(t, "rollback to r1", snapshot(t, pool), full["r1"])
	if _, err := Rollback(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	sameCatalogue(t, "rollback of the rollback", snapshot(t, pool), full["r2"])

	// A load after a rollback is based on the rolled-back-to build; the
	// build rolled away from is retired without leaving versions behind.
	if _, err := Rollback(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	s := mustRebuild(t, pool, r0, opt)
	if s.Kind != KindIncremental {
		t.Fatalf("after a rollback: a %s build", s.Kind)
	}
	sameCatalogue(t, "r1 (rolled back to) -> r0", snapshot(t, pool), full["r0"])
	if _, err := Rollback(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	sameCatalogue(t, "rollback to r1 after the retirement", snapshot(t, pool), full["r1"])
}

// TestIncrementalDirtyCorpus loads the dirty corpus over the sample export
// incrementally and compares it with its full build.
func TestIncrementalDirtyCorpus(t *testing.T) {
	t.Parallel()
	const dirty = "../loader/testdata/dirty"
	want := fullBuild(t, dirty)
	pool := newPool(t)
	mustRebuild(t, pool, fixtureDir)
	s := mustRebuild(t, pool, dirty, func(o *Options) { o.MaxRejectRatio = 1 })
	if s.Kind != KindIncremental {
		t.Fatalf("a %s build", s.Kind)
	}
	sameCatalogue(t, "sample -> dirty", snapshot(t, pool), want)
	if got := slices.Sorted(maps.Keys(snapshot(t, pool).docs)); len(got) != len(want.docs) {
		t.Errorf("%d products, want %d", len(got), len(want.docs))
	}
}

// TestLargePrices: prices past 32-bit cents load and are served exactly
// (the contract bounds them only by "non-negative, two decimals"; we take up
// to numeric(12,2)'s 9,999,999,999.99).
func TestLargePrices(t *testing.T) {
	t.Parallel()
	dir := copyDir(t, fixtureDir, func(name, text string) string {
		switch name {
		case "product.csv":
			return strings.Replace(text, `"Jackets",140`, `"Jackets",25000000.5`, 1)
		case "styles.csv":
			return strings.Replace(text, `1,1,"Forest Green & Black",null,140,1`, `1,1,"Forest Green & Black",9999999999.99,9999999999.99,1`, 1)
		}
		return text
	})
	pool := newPool(t)
	mustRebuild(t, pool, dir)
	if p := doc(t, pool, "product", 1); !strings.Contains(p, `"default_price":"25000000.50"`) {
		t.Errorf("product 1: %s", p)
	}
	if s := doc(t, pool, "styles", 1); !strings.Contains(s, `"original_price":"9999999999.99","sale_price":"9999999999.99"`) {
		t.Errorf("styles of product 1: %.300s", s)
	}
}

// TestIncrementalAlternatingExports loads two unrelated exports in turn,
// each over the other (every product changes every time), then rolls back
// and loads again: every live build must equal a full build of its export,
// one version a product.
func TestIncrementalAlternatingExports(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	for i, d := range []string{a, b} {
		if _, err := generate.Write(context.Background(), d, generate.Options{Products: 2000, Seed: uint64(11 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]catalogue{a: fullBuild(t, a), b: fullBuild(t, b)}
	pool := newPool(t)
	opt := func(o *Options) { o.MaxRejectRatio = 0.05 }
	for i, dir := range []string{a, b, a, b, a} {
		mustRebuild(t, pool, dir, opt)
		sameCatalogue(t, fmt.Sprintf("load %d", i+1), snapshot(t, pool), want[dir])
	}
	if _, err := Rollback(context.Background(), pool); err != nil { // to b
		t.Fatal(err)
	}
	sameCatalogue(t, "rollback", snapshot(t, pool), want[b])
	for i, dir := range []string{a, b} {
		mustRebuild(t, pool, dir, opt)
		sameCatalogue(t, fmt.Sprintf("after the rollback, load %d", i+1), snapshot(t, pool), want[dir])
	}
}

// TestUpgradeFromFirstFormat: a database whose live build is of the first
// storage format (a view with ord) keeps serving it until a load of this
// format swaps in, which is full; the old build cannot be rolled back to.
func TestUpgradeFromFirstFormat(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE SCHEMA elier",
		`CREATE TABLE elier.builds (id bigint PRIMARY KEY, schema_name text NOT NULL UNIQUE,
			state text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
			swapped_at timestamptz, source_dir text NOT NULL DEFAULT '', sources jsonb NOT NULL DEFAULT '{}',
			counts jsonb NOT NULL DEFAULT '{}', summary jsonb NOT NULL DEFAULT '{}')`,
		"CREATE SEQUENCE elier.build_id_seq",
		"SELECT setval('elier.build_id_seq', 1)",
		"CREATE SCHEMA elier_b1",
		"CREATE TABLE elier_b1.docs (id int PRIMARY KEY, ord int, list_item text, product text, styles text, related text)",
		`INSERT INTO elier_b1.docs VALUES (1, 1, '{"id":1}', '{"id":1,"old":true}', '{}', '[]')`,
		"INSERT INTO elier.builds (id, schema_name, state) VALUES (1, 'elier_b1', 'live')",
		"CREATE VIEW elier.docs AS SELECT 1::bigint AS build_id, id, ord, list_item, product, styles, related FROM elier_b1.docs",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// The catalogue's migration leaves the old build serving.
	if err := installCatalog(ctx, mustAcquire(t, pool)); err != nil {
		t.Fatal(err)
	}
	if got := doc(t, pool, "product", 1); got != `{"id":1,"old":true}` {
		t.Fatalf("before the first load of this format: %s", got)
	}
	s := mustRebuild(t, pool, fixtureDir)
	if s.Kind != KindFull || s.BaseID != 0 {
		t.Errorf("first load over a first-format build: %s, base %d", s.Kind, s.BaseID)
	}
	if got := doc(t, pool, "product", 1); strings.Contains(got, `"old"`) {
		t.Errorf("still the old build's document: %s", got)
	}
	if _, err := Rollback(ctx, pool); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("rollback to a first-format build: %v, want ErrNoPrevious", err)
	}
}

func mustAcquire(t *testing.T, pool *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	c, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Release)
	return c
}

// TestIncrementalSkipsUnchangedRows: an incremental build builds only the
// products whose export rows changed (the rest are skipped by the input
// hash, their documents being the base's): none for the same export, one
// for a single sku's stock changed, and the catalogue is still a full
// build's.
func TestIncrementalSkipsUnchangedRows(t *testing.T) {
	t.Parallel()
	r0 := t.TempDir()
	if _, err := generate.Write(context.Background(), r0, generate.Options{Products: 2000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	// One sku's quantity changed: the first data line of skus.csv whose
	// quantity is a plain number.
	var changedLine string
	r1 := copyDir(t, r0, func(name, text string) string {
		if name != "skus.csv" {
			return text
		}
		lines := strings.SplitAfter(text, "\n")
		for i, l := range lines[1:] {
			f := strings.Split(strings.TrimRight(l, "\r\n"), ",")
			if len(f) == 4 && f[3] != "" && f[3][0] >= '0' && f[3][0] <= '9' {
				f[3] = "7" + f[3]
				lines[i+1] = strings.Join(f, ",") + "\n"
				changedLine = lines[i+1]
				break
			}
		}
		return strings.Join(lines, "")
	})
	if changedLine == "" {
		t.Fatal("no sku line to change")
	}
	want := fullBuild(t, r1)
	pool := newPool(t)
	opt := func(o *Options) { o.MaxRejectRatio = 0.05 }
	first := mustRebuild(t, pool, r0, opt)
	if first.Built != first.Products.Added {
		t.Errorf("full build: %d products built, want all %d", first.Built, first.Products.Added)
	}
	same := mustRebuild(t, pool, r0, opt)
	if same.Kind != KindIncremental || same.Built != 0 || same.Documents != 0 || same.Products.Unchanged != first.Products.Added {
		t.Errorf("the same export again: %s, %d built, %d documents, %+v", same.Kind, same.Built, same.Documents, same.Products)
	}
	one := mustRebuild(t, pool, r1, opt)
	if one.Built != 1 || one.Products.Changed != 1 || one.Documents != 1 {
		t.Errorf("one sku's stock changed (%q): %d built, %d documents, %+v", changedLine, one.Built, one.Documents, one.Products)
	}
	sameCatalogue(t, "r0 -> r1", snapshot(t, pool), want)
}

// TestUpgradeFromSecondFormat: a live build of the second storage format
// (no h_input, no skus in its lineage) is compared with by the first load
// of this format, which is full (the cache survives: it reports its base);
// it can still be rolled back to, and a load over it is full again.
func TestUpgradeFromSecondFormat(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	old := mustRebuild(t, pool, fixtureDir)
	for _, stmt := range []string{
		fmt.Sprintf("ALTER TABLE %s.docs DROP COLUMN h_input, DROP COLUMN skus", ident(old.Schema)),
		fmt.Sprintf("CREATE INDEX stock_product ON %s.stock (product_id, since)", ident(old.Schema)),
		fmt.Sprintf("UPDATE elier.builds SET format = 2 WHERE id = %d", old.BuildID),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	want := snapshot(t, pool)
	s := mustRebuild(t, pool, fixtureDir)
	if s.Kind != KindFull || s.BaseID != old.BuildID || s.Products.Unchanged != int64(len(want.docs)) {
		t.Errorf("first load over a second-format build: %s, base %d, %+v", s.Kind, s.BaseID, s.Products)
	}
	sameCatalogue(t, "reloaded", snapshot(t, pool), want)
	if _, err := Rollback(ctx, pool); err != nil {
		t.Fatalf("rollback to the second-format build: %v", err)
	}
	sameCatalogue(t, "rolled back to the second format", snapshot(t, pool), want)
	if s := mustRebuild(t, pool, fixtureDir); s.Kind != KindFull {
		t.Errorf("a load over a second-format build: %s", s.Kind)
	}
	sameCatalogue(t, "reloaded again", snapshot(t, pool), want)
}

// loadedFixture is a new database with the fixture export loaded: its pool,
// the load's summary and what it serves.
func loadedFixture(t *testing.T) (*pgxpool.Pool, *Summary, catalogue) {
	pool := newPool(t)
	old := mustRebuild(t, pool, fixtureDir)
	return pool, old, snapshot(t, pool)
}

// TestUpgradeFromFourthFormat: a live build of storage format 4, whose
// lineage stores each list item and whose view shows it, is compared with
// by the first load of this format (full); its swap replaces the view with
// one without list_item, which a rollback to the format-4 build keeps: the
// stored items are never read again (readers cut each from its product
// document), so a wrong one changes nothing served.
func TestUpgradeFromFourthFormat(t *testing.T) {
	t.Parallel()
	pool, old, want := loadedFixture(t)
	ctx := context.Background()
	for _, stmt := range []string{
		fmt.Sprintf("ALTER TABLE %s.docs ADD COLUMN list_item text NOT NULL DEFAULT 'stored, not served'", ident(old.Schema)),
		"DROP VIEW elier.docs",
		fmt.Sprintf(`CREATE VIEW elier.docs AS SELECT %d::bigint AS build_id, id, list_item, product, styles, related,
			h_product, h_styles, h_related FROM %s.docs`, old.BuildID, ident(old.Schema)),
		fmt.Sprintf("UPDATE elier.builds SET format = 4 WHERE id = %d", old.BuildID),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	sameCatalogue(t, "format 4", snapshot(t, pool), want)
	s := mustRebuild(t, pool, fixtureDir)
	if s.Kind != KindFull || s.BaseID != old.BuildID || s.Products.Unchanged != int64(len(want.docs)) {
		t.Errorf("first load over a format-4 build: %s, base %d, %+v", s.Kind, s.BaseID, s.Products)
	}
	viewHasItems := func() bool {
		var has bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
			WHERE attrelid = 'elier.docs'::regclass AND attname = 'list_item' AND NOT attisdropped)`).Scan(&has); err != nil {
			t.Fatal(err)
		}
		return has
	}
	if viewHasItems() {
		t.Error("the view still shows list_item after a load of this format")
	}
	sameCatalogue(t, "reloaded", snapshot(t, pool), want)
	if _, err := Rollback(ctx, pool); err != nil {
		t.Fatalf("rollback to the format-4 build: %v", err)
	}
	if viewHasItems() {
		t.Error("the view shows list_item after a rollback to a format-4 build")
	}
	sameCatalogue(t, "rolled back to format 4", snapshot(t, pool), want)
	if s := mustRebuild(t, pool, fixtureDir); s.Kind != KindFull {
		t.Errorf("a load over a format-4 build: %s", s.Kind)
	}
	sameCatalogue(t, "reloaded again", snapshot(t, pool), want)
}

// TestUpgradeFromSixthFormat: a live build of storage format 6 holds gzip
// written by klauspost/compress, other bytes than pkg/deflate's for the
// same bodies; the first load of this format over it is full, so that no
// document keeps bytes a full build would not write.
func TestUpgradeFromSixthFormat(t *testing.T) {
	t.Parallel()
	pool, old, want := loadedFixture(t)
	ctx := context.Background()
	recoded := 0
	for id, st := range want.stored {
		if !strings.HasPrefix(st[1], "\x1f\x8b") {
			continue
		}
		var b bytes.Buffer
		w, _ := kgzip.NewWriterLevel(&b, 3)
		_, _ = w.Write([]byte(want.docs[id][2]))
		_ = w.Close()
		if _, err := pool.Exec(ctx, fmt.Sprintf("UPDATE %s.docs SET styles = $1 WHERE id = $2", ident(old.Schema)),
			b.Bytes(), id); err != nil {
			t.Fatal(err)
		}
		recoded++
	}
	if _, err := pool.Exec(ctx, "UPDATE elier.builds SET format = 6 WHERE id = $1", old.BuildID); err != nil {
		t.Fatal(err)
	}
	six := snapshot(t, pool)
	if recoded == 0 || maps.EqualFunc(six.stored, want.stored, func(a, b [3]string) bool { return a == b }) {
		t.Fatalf("the format-6 build's styles were not recoded (%d coded)", recoded)
	}
	if !maps.Equal(six.docs, want.docs) {
		t.Fatal("recoding changed a served body")
	}
	s := mustRebuild(t, pool, fixtureDir)
	if s.Kind != KindFull || s.Products.Unchanged != int64(len(want.docs)) {
		t.Errorf("first load over a format-6 build: %s, %+v", s.Kind, s.Products)
	}
	sameCatalogue(t, "loaded over format 6", snapshot(t, pool), want)
}

// checkStoredBytes: the stored bytes a load reports and records for the
// live catalogue are the sum of its served documents' as PostgreSQL counts
// them.
func checkStoredBytes(t *testing.T, what string, pool *pgxpool.Pool, s *Summary) {
	t.Helper()
	var recorded int64
	ctx := context.Background()
	err := pool.QueryRow(ctx, `SELECT (counts->>'stored_bytes')::bigint FROM elier.builds WHERE state = 'live'`).Scan(&recorded)
	if err != nil {
		t.Fatal(err)
	}
	// Each document as a reader gets it (pgtest.LiveBytes: a packed
	// product document unpacked independently of the build).
	_, want, _, err := pgtest.LiveBytes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if s.StoredBytes != want || recorded != want {
		t.Errorf("%s: stored bytes %d in the summary, %d recorded, %d in the live documents", what, s.StoredBytes, recorded, want)
	}
}
