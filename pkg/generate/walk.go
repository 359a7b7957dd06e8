package generate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// walker follows the products of a revision in id order, as every writer
// does: base products 1..N, then each day's added products. It knows each
// product's revision-0 ids and the days that touched it, and for those few
// products rebuilds their rows and replays the days. Each goroutine has
// its own walker; they agree because every choice is a pure function of
// (seed, day, product) and every walker hands out new ids in the same
// order.
type walker struct {
	g     *gen
	rv    *rev
	pl    plan // the current product's revision-0 shape
	planR rng
	// offs[f] counts the revision-0 rows of file f of the base products
	// before the current one: the current product's ids follow them.
	offs [numFiles]int
	// next[d][f] is the next free id in day d's block of file f.
	next      [][numFiles]int
	rem       int   // next entry of rv.removed
	added     int   // day the current product was added; 0 for base products
	changes   []int // days the current product changes, ascending
	removedOn int   // day the current product is removed; 0 if it is not

	scratch writer
	bufs    [numFiles][]byte // the current product's revision-0 rows
	st      state
}

func newWalker(g *gen) *walker {
	wk := &walker{g: g, rv: g.rev, next: slices.Clone(g.rev.blockStart)}
	for f := range numFiles {
		wk.bufs[f] = make([]byte, 0, 4<<10)
	}
	return wk
}

// step moves to product p and reports whether it needs the slow path:
// false for a base product no day touched, whose rows are revision 0's.
func (wk *walker) step(p int) bool {
	g, rv := wk.g, wk.rv
	if p > g.products {
		if wk.added == 0 {
			wk.added = 1
		}
		for p >= rv.addedStart[wk.added+1] {
			wk.added++
		}
	}
	wk.pl.draw(&wk.planR, g, p)
	wk.changes = wk.changes[:0]
	wk.removedOn = 0
	if wk.rem < len(rv.removed) && rv.removed[wk.rem].id == p {
		wk.removedOn = rv.removed[wk.rem].day
		wk.rem++
	}
	for d := wk.added + 1; d <= rv.days && d != wk.removedOn; d++ {
		if rv.selected(g.seed, d, p) {
			wk.changes = append(wk.changes, d)
		}
	}
	return wk.added > 0 || wk.removedOn > 0 || len(wk.changes) > 0
}

// done moves the revision-0 ids past product p.
func (wk *walker) done(p int) {
	if p <= wk.g.products {
		for f, n := range wk.pl.counts(wk.g) {
			wk.offs[f] += n
		}
	}
}

// build sets wk.st to product p's rows as they were first written: in
// revision 0 for a base product, on the day it was added for a new one,
// whose ids then come from that day's blocks.
func (wk *walker) build(p int) *state {
	g := wk.g
	first := wk.offs
	if wk.added > 0 {
		for f := range numFiles {
			first[f] = wk.next[wk.added][f]
		}
		first[fProduct] = p
		c := wk.pl.counts(g)
		for f := range numFiles {
			wk.next[wk.added][f] += c[f]
		}
	} else {
		first[fProduct] = p
		for f := fFeatures; f < numFiles; f++ {
			first[f]++
		}
	}
	w := &wk.scratch
	for f, fl := range exportFiles() {
		w.buf = wk.bufs[f][:0]
		w.id = first[f] - 1
		w.styleID = first[fStyles] - 1
		w.r.seed(g.seed, fl.stream, p)
		fl.rows(w, g, p, &wk.pl)
		wk.bufs[f] = w.buf
	}
	st := &wk.st
	st.kind = wk.pl.kind
	for f := range numFiles {
		st.rows[f] = parseRows(st.rows[f][:0], wk.bufs[f], f != fProduct)
	}
	if wk.added > 0 {
		wk.relinkRelated(st, p)
	}
	return st
}

// relinkRelated points a new product's related rows, drawn like any
// product's, only at products that are never removed (or at 0 or itself,
// the real export's defects), dropping a row when no such product is near.
func (wk *walker) relinkRelated(st *state, p int) {
	var r rng
	r.seed(wk.g.seed, dayStream(streamAdded, wk.added), p)
	rows := st.rows[fRelated][:0]
	for _, row := range st.rows[fRelated] {
		if t := intOf(row.rest); t != 0 && t != p && !wk.rv.isReferenced(t) {
			t = wk.rv.neighbourReferenced(&r, p, wk.g.products, st.targets())
			if t == 0 {
				continue
			}
			row.rest = strconv.AppendInt(nil, int64(t), 10)
		}
		rows = append(rows, row)
	}
	st.rows[fRelated] = rows
}

// replay applies the product's days in (from, to] to st and reports
// whether the product still exists on day to.
func (wk *walker) replay(st *state, p, from, to int) bool {
	for _, d := range wk.changes {
		if d > from && d <= to {
			wk.change(st, d, p)
		}
	}
	if wk.added > to {
		return false
	}
	return wk.removedOn == 0 || wk.removedOn > to
}

// alloc reserves n consecutive new ids of file f from day d's block.
func (wk *walker) alloc(d, f, n int) int {
	id := wk.next[d][f]
	wk.next[d][f] += n
	if wk.next[d][f] > wk.rv.blockStart[d+1][f] {
		// newRev sized the block by the most one change or new product
		// creates; passing it would hand out the next day's ids twice.
		panic(fmt.Sprintf("generate: day %d overflows its block of %s ids", d, exportFiles()[f].name))
	}
	return id
}

// row is one line of a file: its id, its parent's id (none in
// product.csv) and the rest of the line as written, without the line end.
type row struct {
	id, parent int
	rest       []byte
}

// state is one product's rows in the six files, in file order.
type state struct {
	rows [numFiles][]row
	kind kind
}

func parseRows(rows []row, b []byte, parent bool) []row {
	for len(b) > 0 {
		line, tail, _ := bytes.Cut(b, []byte{'\n'})
		b = tail
		var r row
		r.id, line = leadingInt(line)
		if parent {
			r.parent, line = leadingInt(line)
		}
		r.rest = line
		rows = append(rows, r)
	}
	return rows
}

// leadingInt splits "123,rest" into 123 and "rest".
func leadingInt(b []byte) (int, []byte) {
	n, i := 0, 0
	for ; i < len(b) && b[i] != ','; i++ {
		n = n*10 + int(b[i]-'0')
	}
	return n, b[min(i+1, len(b)):]
}

func intOf(b []byte) int {
	n, _ := leadingInt(b)
	return n
}

// render appends file f's rows of the product.
func (st *state) render(b []byte, f int) []byte {
	for _, r := range st.rows[f] {
		b = strconv.AppendInt(b, int64(r.id), 10)
		b = append(b, ',')
		if f != fProduct {
			b = strconv.AppendInt(b, int64(r.parent), 10)
			b = append(b, ',')
		}
		b = append(b, r.rest...)
		b = append(b, '\n')
	}
	return b
}

func (st *state) targets() []int {
	var ts []int
	for _, r := range st.rows[fRelated] {
		ts = append(ts, intOf(r.rest))
	}
	return ts
}

// cutLast splits "a,b,c" into "a,b" and "c".
func cutLast(b []byte) (head, last []byte) {
	i := bytes.LastIndexByte(b, ',')
	return b[:i], b[i+1:]
}

// withLast returns head + "," + last in a new slice: rows' rest may point
// into a shared buffer, so edits never write in place.
func withLast(head []byte, last ...[]byte) []byte {
	b := append([]byte(nil), head...)
	for _, l := range last {
		b = append(b, ',')
		b = append(b, l...)
	}
	return b
}

// classify adds the defects of file f's rows of product p to d, counted
// the way a reader of the file would count them (and as the row writers
// count them for untouched products).
func (st *state) classify(f, p int, d *Defects) {
	rows := st.rows[f]
	switch f {
	case fFeatures:
		classifyFeatures(rows, d)
	case fStyles:
		classifyStyles(rows, d)
	case fSkus, fPhotos:
		for s := 0; s < len(rows); {
			e := s + 1
			for e < len(rows) && rows[e].parent == rows[s].parent {
				e++
			}
			classifyStyleRows(f, rows[s:e], d)
			s = e
		}
	case fRelated:
		ts := st.targets()
		for i, t := range ts {
			switch t {
			case 0:
				d.RelatedToZero++
			case p:
				d.SelfRelated++
			}
			if slices.Contains(ts[:i], t) {
				d.DuplicateRelated++
			}
		}
	}
}

func classifyFeatures(rows []row, d *Defects) {
	if len(rows) == 0 {
		d.ProductsWithoutFeatures++
	}
	for i, r := range rows {
		if bytes.HasSuffix(r.rest, []byte(",null")) {
			d.NullFeatureValues++
		}
		// The same rest is the same feature and value.
		if slices.ContainsFunc(rows[:i], func(o row) bool { return bytes.Equal(o.rest, r.rest) }) {
			d.DuplicateFeatures++
		}
	}
}

func classifyStyles(rows []row, d *Defects) {
	if len(rows) == 0 {
		d.ProductsWithoutStyles++
		return
	}
	def := false
	for _, r := range rows {
		_, sale, _, flag := styleFields(r.rest)
		if string(sale) == "null" {
			d.NullSalePrices++
		}
		def = def || string(flag) == "1"
	}
	if !def {
		d.ProductsWithoutDefault++
	}
}

// classifyStyleRows counts the defects of one style's skus or photos:
// ids lower than the row before, a repeated size, lines lacking their
// closing quote.
func classifyStyleRows(f int, rows []row, d *Defects) {
	dupSize := false
	for i, r := range rows {
		if i > 0 && r.id < rows[i-1].id {
			if f == fSkus {
				d.SwappedSkuIDs++
			} else {
				d.SwappedPhotoIDs++
			}
		}
		if f == fPhotos && !bytes.HasSuffix(r.rest, []byte{'"'}) {
			d.BrokenPhotoLines++
		}
		if f == fSkus && !dupSize {
			size, _ := cutLast(r.rest)
			dupSize = slices.ContainsFunc(rows[:i], func(o row) bool {
				h, _ := cutLast(o.rest)
				return bytes.Equal(h, size)
			})
		}
	}
	if dupSize {
		d.DuplicateSizes++
	}
}

// changeList walks the products like a writer and lists those whose rows
// differ between revision base and the revision written: added, removed,
// or changed (any row of the six files differs, so one of its served
// documents does). Comparing the rows themselves, rather than trusting
// the days' changes, keeps the list exact when two days undo each other.
type changeList struct {
	writer                  // path "" when only counting
	changed, added, removed int
}

func (cl *changeList) write(ctx context.Context, g *gen, base int) (err error) {
	if cl.path != "" {
		if cl.out, err = os.Create(cl.path + ".tmp"); err != nil {
			return err
		}
		defer func() {
			if cerr := cl.out.Close(); err == nil {
				err = cerr
			}
		}()
	}
	wk := newWalker(g)
	var before, after []byte
	for p := 1; p <= g.total; p++ {
		if wk.step(p) {
			st := wk.build(p)
			was := wk.replay(st, p, 0, base)
			before = before[:0]
			for f := range numFiles {
				before = st.render(before, f)
			}
			is := wk.replay(st, p, base, g.rev.days)
			after = after[:0]
			for f := range numFiles {
				after = st.render(after, f)
			}
			cl.list(p, was, is, bytes.Equal(before, after))
		}
		wk.done(p)
		if len(cl.buf) >= flushAt {
			if err := cl.flush(); err != nil {
				return err
			}
			if err := context.Cause(ctx); err != nil {
				return err
			}
		}
	}
	return cl.flush()
}

func (cl *changeList) list(p int, was, is, same bool) {
	var kind string
	switch {
	case was && is && !same:
		kind = "changed"
		cl.changed++
	case !was && is:
		kind = "added"
		cl.added++
	case was && !is:
		kind = "removed"
		cl.removed++
	default:
		return
	}
	cl.buf = append(cl.buf, kind...)
	cl.buf = append(cl.buf, ',')
	cl.buf = strconv.AppendInt(cl.buf, int64(p), 10)
	cl.buf = append(cl.buf, '\n')
}

func (cl *changeList) flush() error {
	if cl.out == nil {
		cl.buf = cl.buf[:0]
		return nil
	}
	return cl.writer.flush()
}
