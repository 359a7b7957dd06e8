package generate

import (
	"bufio"
	"bytes"
	"context"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// revision is one written revision: its directory, stats and the changes
// file parsed (product id -> kind).
type revision struct {
	dir     string
	stats   Stats
	changes map[int]string
}

func writeRevision(t testing.TB, opts Options) revision {
	t.Helper()
	dir := t.TempDir()
	if opts.Revision > 0 {
		opts.Changes = filepath.Join(t.TempDir(), "changes.csv")
	}
	st, err := Write(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Write(%+v): %v", opts, err)
	}
	rv := revision{dir: dir, stats: st, changes: map[int]string{}}
	if opts.Revision == 0 {
		return rv
	}
	data, err := os.ReadFile(opts.Changes)
	if err != nil {
		t.Fatal(err)
	}
	prev := 0
	for line := range strings.Lines(string(data)) {
		kind, id, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ",")
		p, err := strconv.Atoi(id)
		if !ok || err != nil || p <= prev || (kind != "changed" && kind != "added" && kind != "removed") {
			t.Fatalf("changes line %q after id %d: want kind,id in ascending id order", line, prev)
		}
		rv.changes[p], prev = kind, p
	}
	count := map[string]int{}
	for _, k := range rv.changes {
		count[k]++
	}
	if count["changed"] != st.Changed || count["added"] != st.Added || count["removed"] != st.Removed {
		t.Fatalf("changes file counts %v, Stats says %d changed, %d added, %d removed", count, st.Changed, st.Added, st.Removed)
	}
	return rv
}

// rowsByProduct reads an export's six files as raw lines and groups them by
// the product they belong to (skus and photos through their style), so two
// revisions can be compared product by product without trusting the
// generator's own bookkeeping. ids maps each file to its row ids and the
// product of each.
type rowsByProduct struct {
	lines map[int][]string // product -> "file:line" in file order
	ids   map[string]map[int]int
}

func readProducts(t *testing.T, dir string) rowsByProduct {
	t.Helper()
	pr := rowsByProduct{lines: map[int][]string{}, ids: map[string]map[int]int{}}
	styleProduct := map[int]int{}
	for _, name := range fileNames {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		sc.Scan() // header
		pr.ids[name] = map[int]int{}
		for sc.Scan() {
			line := sc.Text()
			fields := strings.SplitN(line, ",", 3)
			id, owner := atoi(t, fields[0]), atoi(t, fields[0])
			if name != "product.csv" {
				owner = atoi(t, fields[1])
			}
			switch name {
			case "styles.csv":
				styleProduct[id] = owner
			case "skus.csv", "photos.csv":
				owner = styleProduct[owner]
			}
			pr.ids[name][id] = owner
			pr.lines[owner] = append(pr.lines[owner], name+":"+line)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return pr
}

// checkChanges checks that after differs from before exactly where the
// changes file says: listed products changed, were added or removed, every
// other product's rows are byte for byte the same, and new rows take ids
// above every id of before, while rows present in both keep their product.
func checkChanges(t *testing.T, before, after rowsByProduct, changes map[int]string) {
	t.Helper()
	maxBefore := 0
	for p := range before.lines {
		maxBefore = max(maxBefore, p)
	}
	for p := range after.lines {
		if _, ok := before.lines[p]; !ok && changes[p] != "added" {
			t.Errorf("product %d is new but not listed as added (listed %q)", p, changes[p])
		}
	}
	for p, b := range before.lines {
		a, ok := after.lines[p]
		switch kind := changes[p]; {
		case kind == "removed":
			if ok {
				t.Errorf("product %d listed as removed still has rows: %q", p, a)
			}
		case !ok:
			t.Errorf("product %d vanished but is listed as %q", p, kind)
		case kind == "changed" && slices.Equal(a, b):
			t.Errorf("product %d listed as changed has the same rows", p)
		case kind == "" && !slices.Equal(a, b):
			t.Errorf("product %d not listed but its rows differ:\n%q\n%q", p, b, a)
		case kind == "added":
			t.Errorf("product %d listed as added already existed", p)
		}
	}
	for p, kind := range changes {
		if kind == "added" && (p <= maxBefore || after.lines[p] == nil) {
			t.Errorf("added product %d: want rows and an id above %d", p, maxBefore)
		}
	}
	for _, name := range fileNames {
		maxID := 0
		for id := range before.ids[name] {
			maxID = max(maxID, id)
		}
		for id, owner := range after.ids[name] {
			prev, ok := before.ids[name][id]
			switch {
			case !ok && id <= maxID:
				t.Errorf("%s: new row id %d is not above every earlier id (%d)", name, id, maxID)
			case ok && prev != owner:
				t.Errorf("%s: id %d moved from product %d to %d", name, id, prev, owner)
			}
		}
	}
}

// checkRevisionFiles checks a revision's files are consistent and have
// the defects Stats counts, and returns them parsed.
func checkRevisionFiles(t *testing.T, rv revision, revision int) *export {
	t.Helper()
	ex := parse(t, rv.dir, rv.stats)
	ex.revision = revision
	ex.checkConsistency(t)
	if got := ex.defects(t); got != rv.stats.Defects {
		t.Errorf("revision %d: files have defects\n%+v\nStats says\n%+v", revision, got, rv.stats.Defects)
	}
	return ex
}

// TestRevisions follows one catalogue over two days at 20,000 products:
// the change rates, that only listed products differ, that day 2 builds on
// day 1, the files' consistency and defects, and the defect mix.
func TestRevisions(t *testing.T) {
	t.Parallel()
	const products = 20_000
	opts := Options{Products: products, Seed: 3, Change: DefaultChange}
	r0 := writeRevision(t, opts)
	opts.Revision = 1
	r1 := writeRevision(t, opts)
	opts.Revision, opts.Base = 2, 1
	r2 := writeRevision(t, opts)
	opts.Base = 0
	r2from0 := writeRevision(t, opts)

	p0, p1, p2 := readProducts(t, r0.dir), readProducts(t, r1.dir), readProducts(t, r2.dir)
	for _, tc := range []struct {
		name          string
		before, after rowsByProduct
		rv            revision
	}{
		{"r0 to r1", p0, p1, r1},
		{"r1 to r2", p1, p2, r2},
		{"r0 to r2", p0, p2, r2from0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkChanges(t, tc.before, tc.after, tc.rv.changes)
		})
	}
	for day, rv := range []revision{r1, r2} {
		st := rv.stats
		if want := DefaultChange * products; math.Abs(float64(st.Changed)-want) > 0.1*want {
			t.Errorf("day %d: %d products changed, want %v ± 10%%", day+1, st.Changed, want)
		}
		// 0.05% of 20,000 is exactly 10 a day.
		if st.Added != 10 || st.Removed != 10 {
			t.Errorf("day %d: %d added and %d removed, want 10 each", day+1, st.Added, st.Removed)
		}
		if st.Products != products+(day+1)*(st.Added-st.Removed) {
			t.Errorf("day %d: %d products, want %d", day+1, st.Products, products)
		}
	}
	// Relative to revision 0, day 2 shows both days: about twice the
	// changes (a few products changed on both days count once).
	if c := r2from0.stats.Changed; c < r1.stats.Changed+r2.stats.Changed-20 || c > r1.stats.Changed+r2.stats.Changed {
		t.Errorf("r0 to r2: %d changed, want about %d + %d", c, r1.stats.Changed, r2.stats.Changed)
	}
	if r2from0.stats.Added != 20 || r2from0.stats.Removed != 20 {
		t.Errorf("r0 to r2: %d added, %d removed, want 20 each", r2from0.stats.Added, r2from0.stats.Removed)
	}
	// Revision 0's files are TestDefects' business.
	ex1, ex2 := checkRevisionFiles(t, r1, 1), checkRevisionFiles(t, r2, 2)
	// The defect mix: each kind within a few percent of revision 0's count
	// (a change touches 1% of products; most changes touch no defect).
	d0, d2 := defectCounts(r0.stats.Defects), defectCounts(r2.stats.Defects)
	for i := range d0 {
		if math.Abs(float64(d2[i]-d0[i])) > 0.05*float64(d0[i])+2 {
			t.Errorf("defect %d: %d in revision 2, %d in revision 0", i, d2[i], d0[i])
		}
	}
	checkChangeKinds(t, p0, p1, r1.changes)
	checkNeverOrphaned(t, opts, ex1, ex2)
}

// checkNeverOrphaned checks the rule that keeps removals from changing
// other products: removed products are ones no revision-0 related row
// points at, and no related row of any revision points at such a product
// (except its own rows), since it may be removed on a later day.
func checkNeverOrphaned(t *testing.T, opts Options, exports ...*export) {
	t.Helper()
	g := &gen{products: opts.Products, seed: opts.Seed}
	rv, err := newRev(context.Background(), g, opts.Revision, opts.Change)
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range rv.removed {
		if rv.isReferenced(rm.id) {
			t.Errorf("product %d is removed on day %d but others relate to it", rm.id, rm.day)
		}
	}
	for _, ex := range exports {
		for _, rec := range ex.recs["related.csv"] {
			from, to := atoi(t, rec[1]), atoi(t, rec[2])
			if to != 0 && to != from && !rv.isReferenced(to) {
				t.Errorf("related row %v points at product %d, which may be removed", rec, to)
			}
		}
	}
}

func defectCounts(d Defects) []int64 {
	return []int64{d.BrokenPhotoLines, d.RelatedToZero, d.SelfRelated, d.DuplicateRelated,
		d.NullSalePrices, d.NullFeatureValues, d.SwappedSkuIDs, d.SwappedPhotoIDs, d.DuplicateSizes,
		d.DuplicateFeatures, d.ProductsWithoutStyles, d.ProductsWithoutFeatures, d.ProductsWithoutDefault}
}

// checkChangeKinds checks every file sees changes, sku rows most of all.
func checkChangeKinds(t *testing.T, before, after rowsByProduct, changes map[int]string) {
	t.Helper()
	perFile := map[string]int{}
	for p, kind := range changes {
		if kind != "changed" {
			continue
		}
		for _, name := range fileNames {
			pick := func(lines []string) []string {
				return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.HasPrefix(l, name+":") })
			}
			if !slices.Equal(pick(before.lines[p]), pick(after.lines[p])) {
				perFile[name]++
			}
		}
	}
	for _, name := range fileNames {
		if perFile[name] == 0 {
			t.Errorf("no change touches %s: %v", name, perFile)
		}
		if perFile[name] > perFile["skus.csv"] {
			t.Errorf("%s changes more often than skus.csv: %v", name, perFile)
		}
	}
}

func TestRevisionDeterministic(t *testing.T) {
	t.Parallel()
	opts := Options{Products: 3000, Seed: 7, Revision: 2, Change: 0.05}
	a, b := writeRevision(t, opts), writeRevision(t, opts)
	opts.Revision = 3
	c := writeRevision(t, opts)
	opts.Revision, opts.Change = 2, 0.02
	d := writeRevision(t, opts)
	if !slices.Equal(a.stats.Files, b.stats.Files) || a.stats.Defects != b.stats.Defects {
		t.Errorf("same flags, different stats:\n%+v\n%+v", a.stats, b.stats)
	}
	for _, name := range fileNames {
		fa, _ := os.ReadFile(filepath.Join(a.dir, name))
		fb, _ := os.ReadFile(filepath.Join(b.dir, name))
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between two runs with the same flags", name)
		}
	}
	if !maps.Equal(a.changes, b.changes) {
		t.Errorf("the changes files differ between two runs with the same flags")
	}
	for _, other := range []revision{c, d} {
		fa, _ := os.ReadFile(filepath.Join(a.dir, "skus.csv"))
		fo, _ := os.ReadFile(filepath.Join(other.dir, "skus.csv"))
		if bytes.Equal(fa, fo) {
			t.Errorf("another revision or change rate wrote the same skus.csv")
		}
	}
}

// TestRevisionChangeRates checks the changed fraction follows Change, that
// no change leaves only added and removed products, and that every product
// changes when Change is 1 (except the first six, which keep their forced
// defects).
func TestRevisionChangeRates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		products int
		change   float64
	}{
		{5000, 0.05}, {5000, 0.003}, {2000, 0}, {2000, 1},
	} {
		rv := writeRevision(t, Options{Products: tc.products, Seed: 11, Revision: 1, Change: tc.change})
		want := tc.change * float64(tc.products)
		if tc.change == 1 {
			want -= lastForced + float64(rv.stats.Removed)
		}
		if got := float64(rv.stats.Changed); math.Abs(got-want) > 0.1*want+1 {
			t.Errorf("%+v: %v changed, want %v ± 10%%", tc, got, want)
		}
		for p := 1; p <= lastForced; p++ {
			if rv.changes[p] != "" {
				t.Errorf("%+v: product %d %s; products 1..%d keep their forced defects", tc, p, rv.changes[p], lastForced)
			}
		}
	}
}

// TestRevisionOptions rejects what has no meaning.
func TestRevisionOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{Products: 10, Revision: -1},
		{Products: 10, Revision: 1, Change: 1.5},
		{Products: 10, Revision: 1, Change: math.NaN()},
		{Products: 10, Revision: 2, Base: 2},
		{Products: 10, Revision: 1, Base: -1},
		{Products: 10, Changes: "x.csv"},
	} {
		dir := t.TempDir()
		if _, err := Write(context.Background(), dir, opts); err == nil {
			t.Errorf("Write(%+v) succeeded, want an error", opts)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("Write(%+v) failed but left %d files", opts, len(entries))
		}
	}
}

// FuzzWriteRevision checks small exports of any revision stay consistent,
// with exact defect counts, and differ from the revision before exactly
// where the changes file says.
func FuzzWriteRevision(f *testing.F) {
	f.Add(uint16(0), uint64(0), uint8(1), uint8(1))
	f.Add(uint16(30), uint64(1), uint8(2), uint8(100))
	f.Add(uint16(2500), uint64(9), uint8(3), uint8(20))
	f.Fuzz(func(t *testing.T, products uint16, seed uint64, revision, changePct uint8) {
		n, r := int(products%3000), 1+int(revision%4)
		opts := Options{Products: n, Seed: seed, Revision: r - 1, Change: float64(changePct%101) / 100}
		before := writeRevision(t, opts)
		opts.Revision, opts.Base = r, r-1
		after := writeRevision(t, opts)
		checkRevisionFiles(t, after, r)
		checkChanges(t, readProducts(t, before.dir), readProducts(t, after.dir), after.changes)
	})
}

// TestRevisionNeverOrphaned runs sixteen days, long enough for about 80
// new products (whose related rows are drawn like any product's, then
// relinked) and 80 removals, and checks no related row points at a product
// that may be removed, and that the files are still consistent.
func TestRevisionNeverOrphaned(t *testing.T) {
	t.Parallel()
	opts := Options{Products: 10_000, Seed: 5, Revision: 16, Change: DefaultChange}
	rv := writeRevision(t, opts)
	checkNeverOrphaned(t, opts, checkRevisionFiles(t, rv, opts.Revision))
}
