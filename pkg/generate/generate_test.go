package generate

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var headers = map[string]string{
	"product.csv":  "id,name,slogan,description,category,default_price",
	"features.csv": "id,product_id,feature,value",
	"styles.csv":   "id,productId,name,sale_price,original_price,default_style",
	"skus.csv":     "id,styleId,size,quantity",
	"photos.csv":   "id,styleId,url,thumbnail_url",
	"related.csv":  "id,current_product_id,related_product_id",
}

var fileNames = []string{"product.csv", "features.csv", "styles.csv", "skus.csv", "photos.csv", "related.csv"}

func write(t testing.TB, products int, seed uint64) (string, Stats) {
	t.Helper()
	dir := t.TempDir()
	st, err := Write(context.Background(), dir, Options{Products: products, Seed: seed})
	if err != nil {
		t.Fatalf("Write(%d products, seed %d): %v", products, seed, err)
	}
	return dir, st
}

// export is a written export parsed back: each file's records without the
// header, and the photos lines that needed their closing quote added.
type export struct {
	stats    Stats
	revision int // ids run 1..n only in revision 0
	recs     map[string][][]string
	broken   []int // indexes into recs["photos.csv"]
}

// parse reads every file of dir, checks its header and line ends, and
// parses it with encoding/csv after adding the missing closing quote to the
// broken photos lines (which would otherwise swallow the lines after them).
// One record per line proves no other line is broken.
func parse(t *testing.T, dir string, st Stats) *export {
	t.Helper()
	ex := &export{stats: st, recs: map[string][][]string{}}
	for _, name := range fileNames {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end with a line end", name)
		}
		if bytes.IndexByte(data, '\r') >= 0 {
			t.Fatalf("%s has a CR; want LF line ends", name)
		}
		lines := bytes.Count(data, []byte{'\n'})
		if header, _, _ := bytes.Cut(data, []byte{'\n'}); string(header) != headers[name] {
			t.Fatalf("%s header = %q, want %q", name, header, headers[name])
		}
		text := data
		if name == "photos.csv" {
			text = make([]byte, 0, len(data)+64)
			for i, line := range bytes.SplitAfter(data[:len(data)-1], []byte{'\n'}) {
				line = bytes.TrimSuffix(line, []byte{'\n'})
				text = append(text, line...)
				if i > 0 && !bytes.HasSuffix(line, []byte{'"'}) {
					ex.broken = append(ex.broken, i-1)
					text = append(text, '"')
				}
				text = append(text, '\n')
			}
		}
		r := csv.NewReader(bytes.NewReader(text))
		r.FieldsPerRecord = strings.Count(headers[name], ",") + 1
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		if len(recs) != lines {
			t.Fatalf("%s: %d records in %d lines; some line is broken", name, len(recs), lines)
		}
		recs = recs[1:]
		ex.recs[name] = recs
		fs := st.Files[slices.Index(fileNames, name)]
		if fs.Name != name || fs.Rows != int64(len(recs)) || fs.Bytes != int64(len(data)) {
			t.Errorf("Stats for %s = %+v, want %d rows, %d bytes", name, fs, len(recs), len(data))
		}
	}
	return ex
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, sa := write(t, 3000, 7)
	b, sb := write(t, 3000, 7)
	c, _ := write(t, 3000, 8)
	if !slices.Equal(sa.Files, sb.Files) || sa.Defects != sb.Defects {
		t.Errorf("same flags, different stats:\n%+v\n%+v", sa, sb)
	}
	for _, name := range fileNames {
		fa, _ := os.ReadFile(filepath.Join(a, name))
		fb, _ := os.ReadFile(filepath.Join(b, name))
		fc, _ := os.ReadFile(filepath.Join(c, name))
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		if bytes.Equal(fa, fc) {
			t.Errorf("%s is the same for seeds 7 and 8", name)
		}
	}
}

func TestShape(t *testing.T) {
	t.Parallel()
	const products = 20_000
	_, st := write(t, products, 1)
	rows := map[string]float64{}
	for _, f := range st.Files {
		rows[f.Name] = float64(f.Rows)
	}
	if rows["product.csv"] != products {
		t.Fatalf("product.csv has %v rows, want %d", rows["product.csv"], products)
	}
	for _, tc := range []struct {
		what          string
		child, parent string
		want          float64 // the real export's ratio
	}{
		{"features per product", "features.csv", "product.csv", 2.22},
		{"styles per product", "styles.csv", "product.csv", 1.96},
		{"skus per style", "skus.csv", "styles.csv", 5.78},
		{"photos per style", "photos.csv", "styles.csv", 2.89},
		{"related per product", "related.csv", "product.csv", 4.51},
	} {
		got := rows[tc.child] / rows[tc.parent]
		if math.Abs(got-tc.want)/tc.want > 0.05 {
			t.Errorf("%s = %.3f, want %.2f ± 5%%", tc.what, got, tc.want)
		}
	}
	// The real export is about 2,300 bytes per product; ids are shorter at
	// this scale, so a little less here.
	if perProduct := float64(st.Bytes()) / products; perProduct < 2000 || perProduct > 2600 {
		t.Errorf("%.0f bytes per product, want about 2,300", perProduct)
	}
}

// TestDistributionMeans pins the weight tables to the real export's
// ratios exactly, so the sampled ratios above only carry sampling noise.
func TestDistributionMeans(t *testing.T) {
	t.Parallel()
	mean := func(w []int) float64 {
		var sum, n int
		for i, x := range w {
			sum += i * x
			n += x
		}
		if n != 1000 {
			t.Errorf("weights %v sum to %d, want 1000", w, n)
		}
		return float64(sum) / 1000
	}
	var skus float64
	for k := range numKinds {
		skus += float64(kindWeights[k]) / 1000 * mean(skusPerStyle[k])
		if n := len(skusPerStyle[k]) - 1; n > len(sizes[k]) {
			t.Errorf("kind %d: up to %d skus but only %d sizes", k, n, len(sizes[k]))
		}
		if len(featuresByKind[k]) < len(featuresPerProduct)-1 {
			t.Errorf("kind %d: %d features, fewer than a product may get", k, len(featuresByKind[k]))
		}
	}
	for _, tc := range []struct {
		what      string
		got, want float64
	}{
		{"features per product", mean(featuresPerProduct[:]), 2.22},
		{"styles per product", mean(stylesPerProduct[:]), 1.96},
		{"photos per style", mean(photosPerStyle[:]), 2.89},
		{"related per product", mean(relatedPerProduct[:]), 4.51},
		{"skus per style", skus, 5.78},
	} {
		if math.Abs(tc.got-tc.want) > 0.005 {
			t.Errorf("%s: table mean %.3f, want %.2f", tc.what, tc.got, tc.want)
		}
	}
	mean(kindWeights[:])
	mean(sentencesPerDescription[:])
}

// TestDefects finds each of the real export's defects in the written files
// of a 10,000-product export, and checks Stats counts what was written.
func TestDefects(t *testing.T) {
	t.Parallel()
	dir, st := write(t, 10_000, 1)
	ex := parse(t, dir, st)
	got := ex.defects(t)
	if got != st.Defects {
		t.Errorf("defects in the files:\n%+v\nStats.Defects:\n%+v", got, st.Defects)
	}
	for _, what := range missing(got) {
		t.Errorf("no %s", what)
	}
	// Rates: most sale prices null, a few % of feature values null.
	styles := float64(st.Files[2].Rows)
	if r := float64(got.NullSalePrices) / styles; r < 0.55 || r > 0.75 {
		t.Errorf("%.2f of sale prices null, want about 0.65", r)
	}
	if r := float64(got.NullFeatureValues) / float64(st.Files[1].Rows); r < 0.02 || r > 0.07 {
		t.Errorf("%.3f of feature values null, want a few %%", r)
	}
	ex.checkConsistency(t)
}

// missing names the defects d has none of.
func missing(d Defects) []string {
	var m []string
	for _, c := range []struct {
		what string
		n    int64
	}{
		{"photos line missing its closing quote", d.BrokenPhotoLines},
		{"related row to product 0", d.RelatedToZero},
		{"self-related row", d.SelfRelated},
		{"duplicate related pair", d.DuplicateRelated},
		{"null sale_price", d.NullSalePrices},
		{"null feature value", d.NullFeatureValues},
		{"sku ids out of order", d.SwappedSkuIDs},
		{"photo ids out of order", d.SwappedPhotoIDs},
		{"duplicate size in a style", d.DuplicateSizes},
		{"product without styles", d.ProductsWithoutStyles},
		{"product without features", d.ProductsWithoutFeatures},
		{"product without a default style", d.ProductsWithoutDefault},
	} {
		if c.n == 0 {
			m = append(m, c.what)
		}
	}
	return m
}

// defects counts the defects from the parsed files alone.
func (ex *export) defects(t *testing.T) Defects {
	var d Defects
	d.BrokenPhotoLines = int64(len(ex.broken))

	hasFeatures := map[int]bool{}
	var prev int
	var seen [][2]string
	for _, r := range ex.recs["features.csv"] {
		p := atoi(t, r[1])
		if p != prev {
			prev, seen = p, seen[:0]
		}
		hasFeatures[p] = true
		value := r[3]
		if value == "null" {
			d.NullFeatureValues++
			value = ""
		}
		if slices.Contains(seen, [2]string{r[2], value}) {
			d.DuplicateFeatures++
		}
		seen = append(seen, [2]string{r[2], value})
	}
	stylesOf := map[int]int{}
	defaultsOf := map[int]int{}
	for _, r := range ex.recs["styles.csv"] {
		p := atoi(t, r[1])
		stylesOf[p]++
		defaultsOf[p] += atoi(t, r[5])
		if r[3] == "null" {
			d.NullSalePrices++
		}
	}
	for _, r := range ex.recs["product.csv"] {
		p := atoi(t, r[0])
		if !hasFeatures[p] {
			d.ProductsWithoutFeatures++
		}
		switch {
		case stylesOf[p] == 0:
			d.ProductsWithoutStyles++
		case defaultsOf[p] == 0:
			d.ProductsWithoutDefault++
		}
	}
	// An id lower than the previous row's id of the same parent.
	swapped := func(recs [][]string) (n int64) {
		prevID, prevParent := 0, 0
		for _, r := range recs {
			id, parent := atoi(t, r[0]), atoi(t, r[1])
			if parent == prevParent && id < prevID {
				n++
			}
			prevID, prevParent = id, parent
		}
		return n
	}
	d.SwappedSkuIDs = swapped(ex.recs["skus.csv"])
	d.SwappedPhotoIDs = swapped(ex.recs["photos.csv"])

	sizesSeen := map[string]bool{}
	prev = 0
	dupStyle := 0
	for _, r := range ex.recs["skus.csv"] {
		s := atoi(t, r[1])
		if s != prev {
			prev = s
			clear(sizesSeen)
		}
		if sizesSeen[r[2]] && dupStyle != s {
			d.DuplicateSizes++
			dupStyle = s
		}
		sizesSeen[r[2]] = true
	}

	type pair struct{ from, to int }
	pairs := map[pair]bool{}
	for _, r := range ex.recs["related.csv"] {
		pr := pair{atoi(t, r[1]), atoi(t, r[2])}
		switch pr.to {
		case 0:
			d.RelatedToZero++
		case pr.from:
			d.SelfRelated++
		}
		if pairs[pr] {
			d.DuplicateRelated++
		}
		pairs[pr] = true
	}
	return d
}

// checkConsistency checks what a loader relies on beyond the defects:
// unique ids (from 1 without gaps in revision 0), every row under an
// existing parent, each file grouped by product in ascending product order
// with a product's styles in ascending id order, values in their ranges.
func (ex *export) checkConsistency(t *testing.T) {
	t.Helper()
	products := map[int]bool{}
	prevProduct := 0
	for _, r := range ex.recs["product.csv"] {
		p := atoi(t, r[0])
		if p <= prevProduct {
			t.Fatalf("product.csv: product %d after %d, want ascending ids", p, prevProduct)
		}
		products[p], prevProduct = true, p
	}
	styleProduct := map[int]int{}
	for _, r := range ex.recs["styles.csv"] {
		styleProduct[atoi(t, r[0])] = atoi(t, r[1])
	}
	for _, name := range fileNames {
		ids := make([]int, 0, len(ex.recs[name]))
		prevOwner, prevID := 0, 0
		for i, r := range ex.recs[name] {
			ids = append(ids, atoi(t, r[0]))
			if name == "product.csv" {
				continue
			}
			owner := atoi(t, r[1])
			if name == "skus.csv" || name == "photos.csv" {
				owner = styleProduct[owner]
			}
			if owner < prevOwner || !products[owner] {
				t.Fatalf("%s row %d: product %d after %d; want existing products in ascending order", name, i+1, owner, prevOwner)
			}
			if name == "styles.csv" && owner == prevOwner && ids[i] < prevID {
				t.Fatalf("styles.csv row %d: style %d after %d of the same product", i+1, ids[i], prevID)
			}
			prevOwner, prevID = owner, ids[i]
		}
		slices.Sort(ids)
		for i, id := range ids {
			switch {
			case ex.revision == 0 && id != i+1:
				t.Fatalf("%s: ids are not 1..%d (found %d at rank %d)", name, len(ids), id, i+1)
			case id < 1 || id > math.MaxInt32 || i > 0 && id == ids[i-1]:
				t.Fatalf("%s: id %d repeated or not a positive 32-bit integer", name, id)
			}
		}
	}
	validSize := map[string]bool{}
	for _, l := range sizes {
		for _, s := range l {
			validSize[s] = true
		}
	}
	for _, r := range ex.recs["skus.csv"] {
		if q := atoi(t, r[3]); !validSize[r[2]] || q < 0 || q > 60 {
			t.Fatalf("sku %v: bad size or quantity", r)
		}
	}
	for _, r := range ex.recs["product.csv"] {
		if p := atoi(t, r[5]); p < 10 || p > 1000 {
			t.Fatalf("product %v: default_price out of 10..1000", r)
		}
	}
	for _, r := range ex.recs["styles.csv"] {
		orig := atoi(t, r[4])
		if r[3] != "null" {
			if sale := atoi(t, r[3]); sale < 1 || sale >= orig {
				t.Fatalf("style %v: sale_price not below original_price", r)
			}
		}
		if r[5] != "0" && r[5] != "1" {
			t.Fatalf("style %v: default_style not 0 or 1", r)
		}
	}
	for _, r := range ex.recs["related.csv"] {
		if to := atoi(t, r[2]); to != 0 && !products[to] {
			t.Fatalf("related %v: target neither 0 nor a product", r)
		}
	}
	for i, r := range ex.recs["photos.csv"] {
		for _, u := range r[2:] {
			if !strings.HasPrefix(u, "https://images.unsplash.com/photo-") || !strings.HasSuffix(u, "&q=80") {
				t.Fatalf("photo row %d: url %q not shaped like the real ones", i+1, u)
			}
		}
		if !strings.Contains(r[3], "&w=300&") {
			t.Fatalf("photo row %d: thumbnail %q is not w=300", i+1, r[3])
		}
	}
}

// TestQuotingStyle pins the real export's quoting: numbers and null bare,
// text quoted, and no float prices.
func TestQuotingStyle(t *testing.T) {
	t.Parallel()
	dir, _ := write(t, 50, 1)
	for _, tc := range []struct {
		file string
		line string // a prefix of a line
	}{
		{"product.csv", `1,"`},
		{"features.csv", `1,1,"`},
		{"styles.csv", `1,1,"`},
		{"skus.csv", `1,1,"`},
		{"photos.csv", `1,1,"https://images.unsplash.com/photo-`},
		{"related.csv", `1,`},
	} {
		data, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		second := strings.SplitN(string(data), "\n", 3)[1]
		if !strings.HasPrefix(second, tc.line) {
			t.Errorf("%s first row %q, want it to start %q", tc.file, second, tc.line)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "styles.csv"))
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		f := strings.Split(line, ",")
		sale, orig, def := f[len(f)-3], f[len(f)-2], f[len(f)-1]
		if strings.ContainsAny(sale+orig+def, `".`) {
			t.Errorf("styles line %q: prices and default_style must be bare integers", line)
		}
	}
}

// TestSmallExports checks tiny exports stay valid, and that from six
// products on every defect is there whatever the seed, being forced onto
// products 1..6.
func TestSmallExports(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		products int
		seed     uint64
	}{
		{0, 1}, {1, 1}, {2, 1}, {3, 1}, {6, 1}, {6, 2}, {7, 3}, {50, 4}, {50, 5},
	} {
		dir, st := write(t, tc.products, tc.seed)
		ex := parse(t, dir, st)
		ex.checkConsistency(t)
		got := ex.defects(t)
		if got != st.Defects {
			t.Errorf("%+v: files have defects %+v, Stats says %+v", tc, got, st.Defects)
		}
		if tc.products >= 6 {
			for _, what := range missing(got) {
				t.Errorf("%+v: no %s", tc, what)
			}
		}
	}
}

func TestReplacesAndLeavesNoTemporaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"product.csv", "skus.csv.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Write(context.Background(), dir, Options{Products: 10, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := slices.Sorted(slices.Values(fileNames))
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "product.csv")); !strings.HasPrefix(string(data), headers["product.csv"]) {
		t.Errorf("product.csv was not replaced")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Write(ctx, dir, Options{Products: 50_000, Seed: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context: %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("cancelled Write left %d files, want none", len(entries))
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var last Progress
	calls := 0
	st, err := Write(context.Background(), t.TempDir(), Options{Products: 2000, Seed: 1, Progress: func(p Progress) {
		calls++
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last.Done != 2000 || last.Total != 2000 || last.Bytes != st.Bytes() {
		t.Errorf("last progress %+v after %d calls, want 2000 of 2000 and %d bytes", last, calls, st.Bytes())
	}
}

func TestOptionsRange(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, MaxProducts + 1} {
		dir := t.TempDir()
		if _, err := Write(context.Background(), dir, Options{Products: n}); err == nil {
			t.Errorf("Write(%d products) succeeded, want an error", n)
		}
	}
}

// FuzzWrite checks that any small export parses and is consistent.
func FuzzWrite(f *testing.F) {
	f.Add(uint16(0), uint64(0))
	f.Add(uint16(7), uint64(1))
	f.Add(uint16(300), uint64(12345))
	f.Fuzz(func(t *testing.T, products uint16, seed uint64) {
		n := int(products % 400)
		dir, st := write(t, n, seed)
		ex := parse(t, dir, st)
		ex.checkConsistency(t)
		if got := ex.defects(t); got != st.Defects {
			t.Errorf("files have defects %+v, Stats says %+v", got, st.Defects)
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	var st Stats
	for b.Loop() {
		var err error
		st, err = Write(context.Background(), dir, Options{Products: 20_000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(st.Bytes())
	b.ReportMetric(float64(st.Rows()), "rows/op")
}

// TestWriteLocksDirectory: a run into a directory another run is writing
// into fails at once and writes nothing there; once the other is done, it
// runs.
func TestWriteLocksDirectory(t *testing.T) {
	t.Parallel()
	if !lockable {
		t.Skip("no flock(2) here")
	}
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Write(context.Background(), dir, Options{Products: 20, Seed: 1})
	if !errors.Is(err, errBusy) {
		t.Fatalf("Write into a locked directory: %v, want %v", err, errBusy)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused run left %d files", len(entries))
	}
	unlock()
	if _, err := Write(context.Background(), dir, Options{Products: 20, Seed: 1}); err != nil {
		t.Fatalf("Write once the lock is free: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "product.csv")); err != nil {
		t.Fatal(err)
	}
}
